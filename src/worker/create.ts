import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import type { Engine } from '../engine/index.js';
import { BuiltinRuntime, DatabaseEventSink } from '../runtimes/index.js';
import type { Store } from '../storage/index.js';
import { Worker } from './worker.js';

/** A worker as the configuration describes it, with the runtimes this version has. */
export function createWorker(
  store: Store,
  engine: Engine,
  config: Config,
  logger: Logger,
  overrides: { concurrency?: number; leaseMs?: number } = {},
): Worker {
  return new Worker({
    store,
    engine,
    runtime: new BuiltinRuntime({
      http: {
        allowPrivateNetworks: config.allowPrivateNetworks,
        timeoutMs: 30_000,
        maxResponseBytes: 5 * 1024 * 1024,
      },
    }),
    events: new DatabaseEventSink(store),
    logger,
    concurrency: overrides.concurrency ?? config.workerConcurrency,
    leaseMs: overrides.leaseMs ?? config.leaseMs,
  });
}
