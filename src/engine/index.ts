export {
  Engine,
  type EngineOptions,
  type StartRunOptions,
  type PreparedRun,
  type FinishedTask,
  type RunView,
} from './runs.js';
export { DEFAULT_MAX_FAN_OUT } from './advance.js';
export { listRunAttempts, type AttemptView, type AttemptQuery, type AttemptPage } from './attempts.js';
export { RUN_TRIGGER_TYPES, type RunFilters } from './run-filters.js';
export type { StepState, RunSteps } from './plan.js';
export type { StepView, TokenCounts } from './run-usage.js';
export type { HandlerState } from './handlers.js';
export { RunLogs, LogTail, LOG_LEVELS, type LogView, type LogQuery, type LogLevel } from './logs.js';
export { encodeCursor, decodeCursor } from './run-filters.js';
export type { ConsensusView } from './consensus-view.js';
export type { WaitingView } from './waiting.js';
export type { ForkRunOptions, ForkView } from './fork.js';
