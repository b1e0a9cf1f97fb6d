import type { Command } from 'commander';
import pino from 'pino';
import { loadConfig } from '../../config/index.js';
import { Engine } from '../../engine/index.js';
import { InputError } from '../../errors/index.js';
import { openKeyring } from '../../secrets/index.js';
import { Store } from '../../storage/index.js';
import { createWorker } from '../../worker/index.js';
import type { CliIo } from '../io.js';

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
      const shutdown = io.waitForShutdown();
      // Workers never migrate: the server does, and a worker on an older schema must not run.
      const store = await Store.open(config.databaseUrl, { migrate: false });
      const logger = pino({ level: config.logLevel });
      // The same master keys as the server (SWARM_MASTER_KEY(S), else this machine's key file):
      // granted secrets are decrypted here.
      const keyring = openKeyring(config, { warn: (message) => logger.warn(message) });
      const worker = createWorker(store, new Engine(store), config, logger, {
        keyring,
        ...(concurrency === undefined ? {} : { concurrency }),
        ...(leaseMs === undefined ? {} : { leaseMs }),
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
    });
}
