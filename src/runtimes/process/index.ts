/**
 * Node, python and binary agents: the process runtime and the Sandbox it runs programs in.
 * See docs/runtimes.md for the protocol, the rules of the environment and the limits.
 */
export type { ProgramKind, Sandbox, SandboxRequest, SandboxedProcess, SandboxExit } from './types.js';
export {
  ProcessSandbox,
  DEFAULT_AGENT_PATH,
  findOnPath,
  type ProcessSandboxOptions,
  type MemoryEnforcement,
  type MemoryMechanism,
} from './sandbox.js';
export {
  ProcessRuntime,
  PROCESS_KINDS,
  DEFAULT_PROCESS_LIMITS,
  grantedSecrets,
  type ProcessRuntimeOptions,
  type ProcessLimits,
  type WarmStopped,
} from './runtime.js';
export {
  WarmPool,
  DEFAULT_MAX_TASKS_PER_PROCESS,
  DEFAULT_IDLE_TIMEOUT_SECONDS,
  type RecycleReason,
  type Recycled,
} from './warm.js';
export { parseLine, LINE_TYPES, type AgentLine } from './protocol.js';
export { isAlive, listProcs } from './proc.js';
export {
  detectIsolation,
  describeIsolation,
  DEFAULT_AGENT_UID,
  DEFAULT_AGENT_GID,
  type Isolation,
  type IsolationMode,
  type IsolationOptions,
} from './isolation.js';
