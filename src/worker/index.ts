export { Worker, type WorkerOptions } from './worker.js';
export { createWorker } from './create.js';
