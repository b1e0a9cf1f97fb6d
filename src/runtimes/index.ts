/**
 * Agent runtimes: what the worker calls to run one attempt of one task. `builtin` runs Swarm's
 * own agents in-process; `process` runs node, python and binary agents in a Sandbox; remote and
 * LLM runtimes will implement the same Runtime interface. DispatchRuntime picks one per agent.
 */
export type {
  AgentInvocation,
  AgentReport,
  InvokedAgent,
  RuntimeContext,
  Runtime,
  LogLevel,
  EventSink,
  EmittedEvent,
  HttpPolicy,
  ChildTaskRequest,
  ChildTaskOutcome,
  ConversationEntry,
  WaitpointRequest,
  WaitpointOutcome,
} from './types.js';
export { Sleep } from './types.js';
export type { Mailer, OutgoingEmail, EmailAttachment, SentEmail } from './mail.js';
export type { ArtifactSource, HttpConnectors, ResolvedHttpConnector } from './connectors.js';
export { BuiltinRuntime, type BuiltinRuntimeOptions } from './builtin.js';
export { guardedAddresses } from './host-guard.js';
export {
  APPROVAL_KEY,
  type ApprovalDecision,
  type ApprovalInput,
  type ApprovalLinkMaker,
  type ApprovalOutput,
  type ApprovalSpec,
  type ApproverRole,
  type Decider,
} from './approval.js';
export { parseDuration, MAX_DURATION_SECONDS } from './duration.js';
export { DatabaseEventSink } from './events.js';
export { RuntimeError, isRuntimeError } from './errors.js';
export { isTruthy } from './basic.js';
export { refusedAddressReason } from './address-policy.js';
export { sendGuarded, type Hop } from './http-request.js';
export { MAX_REDIRECTS } from './http-request.js';
export { DispatchRuntime } from './dispatch.js';
export {
  ProcessRuntime,
  ProcessSandbox,
  PROCESS_KINDS,
  DEFAULT_PROCESS_LIMITS,
  DEFAULT_AGENT_PATH,
  findOnPath,
  grantedSecrets,
  parseLine,
  LINE_TYPES,
  isAlive,
  listProcs,
  detectIsolation,
  describeIsolation,
  DEFAULT_AGENT_UID,
  DEFAULT_AGENT_GID,
  type Isolation,
  type IsolationMode,
  type IsolationOptions,
  type AgentLine,
  type ProgramKind,
  type Sandbox,
  type SandboxRequest,
  type SandboxedProcess,
  type SandboxExit,
  type ProcessSandboxOptions,
  type MemoryEnforcement,
  type MemoryMechanism,
  type ProcessRuntimeOptions,
  type ProcessLimits,
  type WarmStopped,
  type RecycleReason,
} from './process/index.js';
export {
  LlmRuntime,
  createLlmRuntime,
  storeLlmLookup,
  checkProviderInput,
  checkProviderName,
  type LlmLookup,
  type LlmRuntimeOptions,
  type SecretResolver,
  type McpToolLister,
  type ListedMcpTool,
} from './llm/index.js';
export {
  HttpAgentRuntime,
  SigningKey,
  openSigningKey,
  parseSigningKeyPem,
  signedPayload,
  TIMESTAMP_HEADER,
  SWARM_SIGNATURE_HEADER,
  AGENT_SIGNATURE_HEADER,
  type HttpAgentRuntimeOptions,
} from './http-agent/index.js';
