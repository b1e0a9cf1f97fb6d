export { Engine, type StartRunOptions, type PreparedRun, type FinishedTask, type RunView } from './runs.js';
export type { StepState, RunSteps } from './plan.js';
export type { HandlerState } from './handlers.js';
export { RunLogs, LogTail, LOG_LEVELS, type LogView, type LogQuery, type LogLevel } from './logs.js';
