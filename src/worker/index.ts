export { Worker, type WorkerOptions } from './worker.js';
export { createWorker, type WorkerOverrides } from './create.js';
export { outcomeHooks } from './hooks.js';
export { formatAttemptEnd, type AttemptEnd } from './attempt-end.js';
