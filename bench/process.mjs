// Workload (e), the process runtime: N standalone tasks of the example node agent
// examples/agents/echo (a no-op through packages/swarm-agent-node), run by the real worker as
// createWorker builds it — ProcessRuntime in a ProcessSandbox, one child process per task — on
// SQLite and on PostgreSQL with the worker in this process. What it shows is the spawn cost per
// task (start node, read stdin, write the output line, exit, record), not the engine. The `-warm`
// setups run the same program as a persistent agent (`runtime.mode: persistent`, registered as
// echo-warm): warm processes take one task after another, so what is left is the protocol's
// round trip and the store. See bench/README.md for exactly what is timed.
import { readFile } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { parse } from 'yaml';
import { loadConfig } from '../dist/config/index.js';
import { Engine } from '../dist/engine/index.js';
import { enqueueTasks } from '../dist/queue/index.js';
import { EXAMPLES_DIR, Registry, registerExamples } from '../dist/registry/index.js';
import { createWorker } from '../dist/worker/index.js';
import { perSecond } from './lib.mjs';
import { benchUser, epochNow, openStore, percentile, storeUrl, waitForCount } from './swarm-lib.mjs';

export const setups = {
  sqlite: {
    description: 'SQLite file (WAL), worker in the same process; one node child process per task',
    backend: 'none',
  },
  'pg-1p': {
    description: 'PostgreSQL, worker in the same process; one node child process per task',
    backend: 'postgres',
  },
  'sqlite-warm': {
    description: 'SQLite file (WAL), worker in the same process; warm node processes (mode: persistent)',
    backend: 'none',
    persistent: true,
  },
  'pg-1p-warm': {
    description: 'PostgreSQL, worker in the same process; warm node processes (mode: persistent)',
    backend: 'postgres',
    persistent: true,
  },
};

export const workload = {
  letter: 'e',
  title: 'process runtime: no-op node agent (examples/agents/echo), one process per task or warm',
  size: { tasks: 200, concurrency: 8 },
  quick: { tasks: 20, concurrency: 8 },
};

/** Tasks run (and not counted) first: the first spawns warm up the page cache and the JIT. */
const WARMUP = 8;

/**
 * @param {{ setup: keyof typeof setups, pgUrl: string, tmpDir: string, tasks?: number,
 *   concurrency?: number, progress: (p: object) => void }} opts
 */
export async function run(opts) {
  const setup = setups[opts.setup];
  if (!setup) throw new Error(`unknown process setup ${opts.setup}`);
  const tasks = opts.tasks ?? workload.size.tasks;
  const concurrency = opts.concurrency ?? workload.size.concurrency;
  const url = storeUrl({ sqlite: setup.backend === 'none', pgUrl: opts.pgUrl, tmpDir: opts.tmpDir });
  const store = await openStore(url);
  const user = await benchUser(store);
  const registry = new Registry(store);
  await registerExamples(registry, user.caller);
  const agentName = setup.persistent === true ? 'echo-warm' : 'echo';
  if (setup.persistent === true) {
    // The same folder and program as the example, as a persistent agent.
    const folder = path.join(EXAMPLES_DIR, 'agents', 'echo');
    const manifest = parse(await readFile(path.join(folder, 'agent.yaml'), 'utf8'));
    await registry
      .as(user.caller)
      .agents.register(
        { ...manifest, name: agentName, runtime: { ...manifest.runtime, mode: 'persistent' } },
        { path: folder },
      );
  }
  const home = await mkdtemp(path.join(opts.tmpDir, 'home-'));
  const config = loadConfig({ DATABASE_URL: url, SWARM_HOME: home });
  // The memory mechanism this machine offers (a cgroup, or RSS sampling), as `swarm worker` uses.
  const worker = createWorker(store, new Engine(store), config, pino({ level: 'error' }), { concurrency });
  const { db, dialect } = store.handle;
  const countDone = async () =>
    Number(
      (
        await db
          .selectFrom('tasks')
          .select((eb) => eb.fn.countAll().as('n'))
          .where('status', 'in', ['COMPLETED', 'FAILED', 'TIMEOUT'])
          .executeTakeFirstOrThrow()
      ).n,
    );
  const enqueue = (/** @type {number} */ n, /** @type {string} */ tag) =>
    enqueueTasks(
      db,
      dialect,
      Array.from({ length: n }, (_, i) => ({
        ownerId: user.id,
        taskType: agentName,
        agentName,
        agentVersion: '1.0.0',
        input: { [tag]: i },
        maxRetries: 0,
      })),
    );
  try {
    worker.start();
    await worker.listening();
    await enqueue(WARMUP, 'warmup');
    worker.notify();
    await waitForCount(countDone, WARMUP);
    await sleep(50);

    // N tasks enqueued at once; tasks/s = N / (enqueue → the store shows all N done).
    const t0 = epochNow();
    const ids = await enqueue(tasks, 'i');
    worker.notify();
    const doneAt = await waitForCount(countDone, WARMUP + tasks);
    const rows = await db
      .selectFrom('tasks')
      .select(['status', 'started_at', 'completed_at', 'error_message'])
      .where('id', 'in', ids)
      .execute();
    const failed = rows.filter((r) => r.status !== 'COMPLETED');
    if (failed.length > 0)
      throw new Error(`${failed.length} echo tasks did not complete: ${failed[0]?.error_message}`);
    // One task: claim (started_at) → its completion recorded (completed_at), 1 ms resolution.
    const durations = rows.map((r) => Date.parse(r.completed_at) - Date.parse(r.started_at));
    const tasksPerSec = perSecond(tasks, doneAt - t0);
    return {
      tasks,
      concurrency,
      tasksPerSec,
      msPerTask: Math.round(((doneAt - t0) / tasks) * 100) / 100,
      p50Ms: percentile(durations, 50),
      p99Ms: percentile(durations, 99),
      maxMs: percentile(durations, 100),
      details: { warmup: WARMUP, durationsMs: durations },
    };
  } finally {
    await worker.stop(1000);
    await store.close();
  }
}
