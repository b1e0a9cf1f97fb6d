import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import type { Engine } from '../engine/index.js';
import {
  BuiltinRuntime,
  DatabaseEventSink,
  DispatchRuntime,
  ProcessRuntime,
  ProcessSandbox,
  type ProcessSandboxOptions,
} from '../runtimes/index.js';
import type { Store } from '../storage/index.js';
import { Worker } from './worker.js';

/**
 * A worker as the configuration describes it, with the runtimes this version has: builtin agents
 * in-process; node, python and binary agents in a ProcessSandbox, with working folders under
 * `<SWARM_HOME>/work/`. Says once, at start-up, how agents' memory limits are enforced.
 */
export function createWorker(
  store: Store,
  engine: Engine,
  config: Config,
  logger: Logger,
  overrides: { concurrency?: number; leaseMs?: number; sandbox?: ProcessSandboxOptions } = {},
): Worker {
  const sandbox = new ProcessSandbox(overrides.sandbox);
  logger.info({ memoryLimit: sandbox.mechanism }, `agents run in a ${sandbox.describe()}`);
  const builtin = new BuiltinRuntime({
    http: {
      allowPrivateNetworks: config.allowPrivateNetworks,
      timeoutMs: 30_000,
      maxResponseBytes: 5 * 1024 * 1024,
    },
  });
  const processes = new ProcessRuntime({ home: config.home, sandbox });
  return new Worker({
    store,
    engine,
    runtime: new DispatchRuntime({ builtin, node: processes, python: processes, binary: processes }),
    events: new DatabaseEventSink(store),
    logger,
    concurrency: overrides.concurrency ?? config.workerConcurrency,
    leaseMs: overrides.leaseMs ?? config.leaseMs,
  });
}
