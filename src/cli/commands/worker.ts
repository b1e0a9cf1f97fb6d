import type { Command } from 'commander';
import { loadConfig } from '../../config/index.js';
import { InputError } from '../../errors/index.js';
import type { CliIo } from '../io.js';

/** The worker's modules, loaded when `swarm worker` runs: the other commands start without them. */
async function workerModules() {
  const [engine, expressions, secrets, storage, worker, server] = await Promise.all([
    import('../../engine/index.js'),
    import('../../expressions/index.js'),
    import('../../secrets/index.js'),
    import('../../storage/index.js'),
    import('../../worker/index.js'),
    import('../../server/index.js'),
  ]);
  return {
    Engine: engine.Engine,
    configureExpressionLimits: expressions.configureExpressionLimits,
    openKeyring: secrets.openKeyring,
    Store: storage.Store,
    createWorker: worker.createWorker,
    consoleLogger: server.consoleLogger,
    formatAttemptEnd: worker.formatAttemptEnd,
  };
}

function integer(flag: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max)
    throw new InputError(flag, `must be an integer from ${min} to ${max}, got "${raw}"`);
  return value;
}

export function registerWorker(program: Command, io: CliIo): void {
  program
    .command('worker')
    .description('Run a standalone worker against DATABASE_URL (any number, on any machine, for PostgreSQL)')
    .option('-c, --concurrency <n>', 'tasks run at once (default: SWARM_WORKER_CONCURRENCY, else 16)')
    .option('--lease-ms <ms>', 'lease length without a heartbeat (default: SWARM_LEASE_MS, else 30000)')
    .action(async (options: { concurrency?: string; leaseMs?: string }) => {
      const concurrency = integer('--concurrency', options.concurrency, 1, 1024);
      const leaseMs = integer('--lease-ms', options.leaseMs, 100, 3_600_000);
      const config = loadConfig(io.env, io.cwd);
      const {
        Engine,
        configureExpressionLimits,
        openKeyring,
        Store,
        createWorker,
        consoleLogger,
        formatAttemptEnd,
      } = await workerModules();
      configureExpressionLimits(config.expressionLimits);
      const shutdown = io.waitForShutdown();
      // Spans of attempts (children of their runs' spans) and of the runs it ends: only with an
      // OTLP endpoint set, else the SDK is not even loaded.
      const { startTracing } = await import('../../telemetry/index.js');
      const stopTracing = await startTracing(io.env);
      // Workers never migrate: the server does, and a worker on an older schema must not run.
      const store = await Store.open(config.databaseUrl, { migrate: false });
      const logger = consoleLogger({ level: config.logLevel, format: config.logFormat });
      // The same master keys as the server (SWARM_MASTER_KEY(S), else this machine's key file):
      // granted secrets are decrypted here.
      const keyring = openKeyring(config, { warn: (message) => logger.warn(message) });
      const worker = createWorker(store, new Engine(store, { maxFanOut: config.maxFanOut }), config, logger, {
        keyring,
        ...(concurrency === undefined ? {} : { concurrency }),
        ...(leaseMs === undefined ? {} : { leaseMs }),
        // One line per attempt on the console: which task, agent and step, how it ended, how long.
        onAttemptEnded: (end) => io.out(formatAttemptEnd(end)),
      });
      worker.start();
      io.out(`worker ${worker.workerId} started on ${store.handle.description}`);
      if (!store.handle.dialect.capabilities.multiProcess)
        io.err(
          'swarm: warning: a SQLite file serves worker processes on this machine only, and they find new work by polling (no wake-ups across processes); use PostgreSQL for workers on several machines',
        );
      const signal = await shutdown;
      io.out(`${signal}: finishing running tasks, handing back the rest`);
      await worker.stop(10_000);
      await store.close();
      await stopTracing();
    });
}
