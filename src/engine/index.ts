export {
  Engine,
  type EngineOptions,
  type StartRunOptions,
  type PreparedRun,
  type FinishedTask,
  type RunView,
} from './runs.js';
export { DEFAULT_MAX_FAN_OUT } from './advance.js';
export type { StepState, RunSteps } from './plan.js';
export type { HandlerState } from './handlers.js';
export { RunLogs, LogTail, LOG_LEVELS, type LogView, type LogQuery, type LogLevel } from './logs.js';
