/**
 * Agent runtimes: what the worker calls to run one attempt of one task. Only `builtin` exists
 * so far; process, remote and LLM runtimes will implement the same Runtime interface.
 */
export type {
  AgentInvocation,
  RuntimeContext,
  Runtime,
  LogLevel,
  EventSink,
  EmittedEvent,
  HttpPolicy,
} from './types.js';
export { BuiltinRuntime, UNAVAILABLE_BUILTINS } from './builtin.js';
export { DatabaseEventSink, type EventsTable } from './events.js';
export { RuntimeError, isRuntimeError } from './errors.js';
export { isTruthy } from './basic.js';
export { refusedAddressReason } from './address-policy.js';
export { MAX_REDIRECTS } from './http-request.js';
