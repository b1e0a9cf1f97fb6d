export { Engine, type StartRunOptions, type FinishedTask, type RunView } from './runs.js';
export type { StepState, RunSteps } from './plan.js';
