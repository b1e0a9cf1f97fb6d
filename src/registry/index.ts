export { Registry, type RegistryOptions } from './registry.js';
export { AgentRegistry, AGENT_STATES, type AgentView, type AgentState, type AgentQuery } from './agents.js';
export { WorkflowRegistry, WORKFLOW_STATES, type WorkflowView, type WorkflowState } from './workflows.js';
export { parseDocument, formatOf, type DocumentFormat } from './document.js';
export {
  loadAgentManifest,
  validateAgentManifest,
  BUILTIN_AGENTS,
  parseEd25519PublicKey,
  verifyEd25519,
  schemaIssues,
  MCP_PREFIX,
  MCP_AGENT_VERSION,
  MCP_SERVER_NAME,
  MCP_TOOL_NAME,
  mcpAgentName,
  parseMcpAgentName,
  type McpToolRef,
} from './agent/index.js';
export {
  validateWorkflow,
  compileExpression,
  parseAgentRef,
  resolveInput,
  type NormalizedWorkflow,
  type Budget,
  isBudget,
  type NormalizedStep,
  type TriggerSpec,
  canonicalTimeZone,
  cronProblem,
  parseDuration,
  MAX_WAIT_TIMEOUT_MS,
  MAX_LOOKBACK_MS,
  nextTick,
  nextTicks,
  ticksBetween,
  runInputSchema,
  type InputStep,
  type InputJsonSchema,
  tallyVotes,
  sameResult,
  majorityOf,
  readVerdict,
  type Tally,
  type Vote,
  type Verdict,
  type ConsensusSpec,
  type ConsensusTrust,
  DEFAULT_CONSENSUS_TRUST,
  CONCURRENCY_STRATEGIES,
  type ConcurrencySpec,
  type ConcurrencyStrategy,
  type FiringFlowSpec,
} from './workflow/index.js';
export { contentHash, canonicalJson } from './content-hash.js';
export type * from './types.js';
export { registerExamples, EXAMPLES_DIR, type ExamplesReport } from './examples.js';
export { invalidDefinition } from './invalid.js';
export { toolNameOf, mcpToolNameOf, type LlmToolSpec, type LlmLoopSettings } from './agent/llm-tools.js';
export type { LlmFallback } from './agent/runtime.js';
