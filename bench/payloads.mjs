// Workload (p), payloads without a size cap (docs/payloads.md): one node agent writes a 50 MB
// output line; the real worker (createWorker: ProcessRuntime, ProcessSandbox) reads it, stores it
// as a blob (SWARM_PAYLOAD_INLINE_MAX) and completes the task; then the output is read back
// whole through its reference. On a fresh SQLite file and a fresh PostgreSQL database.
//
//   npm run build && node bench/payloads.mjs [--mb 50] [--pg postgres://…/postgres]
//
// Timed: enqueue → the task row COMPLETED (the agent's start, writing, reading, parsing, the
// blob write and the completion), and the read back (loadJson: chunks, hash check, JSON.parse).
// MB/s = output bytes / time. Then the same output as a step of a two-step run (runRoundTrip).
// Writes bench/results/<date>-payloads.json.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import pino from 'pino';
import { loadJson } from '../dist/blobs/index.js';
import { loadConfig } from '../dist/config/index.js';
import { Engine } from '../dist/engine/index.js';
import { enqueueTasks } from '../dist/queue/index.js';
import { Registry } from '../dist/registry/index.js';
import { createWorker } from '../dist/worker/index.js';
import { withDatabase } from './lib.mjs';
import { benchUser, epochNow, openStore, storeUrl } from './swarm-lib.mjs';
import { parseFlags } from './flags.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: args } = parseFlags(import.meta.url, {
  options: {
    mb: { type: 'string', default: '50' },
    pg: { type: 'string', default: process.env.BENCH_PG_URL ?? process.env.TEST_DATABASE_URL },
  },
});
const bytes = Number(args.mb) * 1_000_000;

const AGENT = `
const chunks = [];
process.stdin.on('data', (c) => chunks.push(c)).on('end', () => {
  const { input } = JSON.parse(Buffer.concat(chunks).toString());
  const text = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(Math.ceil(input.bytes / 36)).slice(0, input.bytes);
  process.stdout.write(JSON.stringify({ type: 'output', output: { text } }) + '\\n');
});
`;

/** @param {string} url @param {string} tmpDir */
async function row(url, tmpDir) {
  const store = await openStore(url);
  const user = await benchUser(store);
  const agentDir = path.join(tmpDir, 'agent');
  await mkdir(agentDir, { recursive: true });
  await writeFile(path.join(agentDir, 'big.js'), AGENT);
  await new Registry(store).as(user.caller).agents.register(
    {
      name: 'big',
      version: '1.0.0',
      type: 'execution',
      capabilities: ['bench:big'],
      runtime: { type: 'node', entry: 'big.js' },
      resources: { memory_mb: 1024, timeout_seconds: 300 },
    },
    { path: agentDir },
  );
  const config = loadConfig({ DATABASE_URL: url, SWARM_HOME: path.join(tmpDir, 'home') });
  const engine = new Engine(store);
  const worker = createWorker(store, engine, config, pino({ level: 'error' }), { concurrency: 1 });
  const { db, dialect } = store.handle;
  try {
    worker.start();
    const t0 = epochNow();
    const [id] = await enqueueTasks(db, dialect, [
      {
        ownerId: user.id,
        taskType: 'big',
        agentName: 'big',
        agentVersion: '1.0.0',
        input: { bytes },
        maxRetries: 0,
      },
    ]);
    worker.notify();
    let task;
    for (;;) {
      task = await db
        .selectFrom('tasks')
        .select(['status', 'result_data', 'error_message'])
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      if (task.status !== 'PENDING' && task.status !== 'RUNNING') break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const done = epochNow();
    if (task.status !== 'COMPLETED') throw new Error(`the task ended ${task.status}: ${task.error_message}`);
    const r0 = epochNow();
    const output = await loadJson(db, task.result_data);
    const read = epochNow();
    if (output.text.length !== bytes)
      throw new Error(`read back ${output.text.length} characters, not ${bytes}`);
    const blob = await db.selectFrom('blobs').select(['id', 'size']).executeTakeFirstOrThrow();
    const sha = createHash('sha256').update(JSON.stringify(output)).digest('hex');
    if (sha !== blob.id) throw new Error('the blob is not the output');
    const mbps = (ms) => Math.round((bytes / 1e6 / (ms / 1000)) * 10) / 10;
    const run = await runRoundTrip(store, engine, user, worker);
    return {
      outputBytes: bytes,
      blobBytes: Number(blob.size),
      roundTripMs: Math.round(done - t0),
      roundTripMBps: mbps(done - t0),
      readBackMs: Math.round(read - r0),
      readBackMBps: mbps(read - r0),
      runMs: run.ms,
      runMBps: mbps(run.ms),
      runRowBytes: run.rowBytes,
    };
  } finally {
    await worker.stop(1000);
    await store.close();
  }
}

/**
 * The same output as a step of a run: `make` writes it, and `after` completes once it is in the
 * run's row, so the run's frame is read back with it and the row written again (as a reference,
 * `rowBytes`). Not passed on through an expression: one's value is bounded by
 * SWARM_EXPR_MAX_RESULT_BYTES (16 MiB), and JSONata's `$length` of a 50 MB string takes ~7 s.
 * Timed: start → the run completed; then make's output read whole from the run's row.
 */
async function runRoundTrip(store, engine, user, worker) {
  const registry = new Registry(store).as(user.caller);
  const { workflow } = await registry.workflows.apply({
    name: 'big-run',
    version: '1.0.0',
    steps: [
      { id: 'make', agent: 'big', input: { bytes } },
      {
        id: 'after',
        agent: 'builtin/transform',
        needs: ['make'],
        input: { made: '{{ steps.make.status }}' },
      },
    ],
  });
  const { db } = store.handle;
  const t0 = epochNow();
  const id = await engine.startRun(user.caller, workflow, registry.agents, { input: {} });
  worker.notify();
  let run;
  for (;;) {
    run = await db
      .selectFrom('workflow_runs')
      .select(['status', 'error', 'step_results'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    if (run.status !== 'pending' && run.status !== 'running') break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const ms = Math.round(epochNow() - t0);
  if (run.status !== 'completed') throw new Error(`the run ended ${run.status}: ${run.error}`);
  const stored = JSON.parse(run.step_results).make.output;
  const output = await loadJson(db, JSON.stringify(stored));
  if (output?.text?.length !== bytes) throw new Error(`make's output in the run is not ${bytes} characters`);
  return { ms, rowBytes: Buffer.byteLength(run.step_results, 'utf8') };
}

const results = {};
const sqliteDir = await mkdtemp(path.join(os.tmpdir(), 'swarm-bench-payloads-'));
try {
  results.sqlite = await row(storeUrl({ sqlite: true, pgUrl: '', tmpDir: sqliteDir }), sqliteDir);
} finally {
  await rm(sqliteDir, { recursive: true, force: true });
}
if (args.pg) {
  const name = `swarm_bench_payloads_${process.pid}`;
  const admin = new pg.Client({ connectionString: args.pg });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const pgDir = await mkdtemp(path.join(os.tmpdir(), 'swarm-bench-payloads-'));
  try {
    results.postgres = await row(withDatabase(args.pg, name), pgDir);
  } finally {
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
    await rm(pgDir, { recursive: true, force: true });
  }
}
console.log(`(p) payloads: one ${args.mb} MB output through a node agent, stored as a blob\n`);
console.log(
  '| database   | enqueue → completed | MB/s  | read back | MB/s  | run start → completed | MB/s  | run row |',
);
console.log(
  '| ---------- | ------------------- | ----- | --------- | ----- | --------------------- | ----- | ------- |',
);
for (const [database, r] of Object.entries(results))
  console.log(
    `| ${database.padEnd(10)} | ${`${r.roundTripMs} ms`.padEnd(19)} | ${String(r.roundTripMBps).padEnd(5)} | ${`${r.readBackMs} ms`.padEnd(9)} | ${String(r.readBackMBps).padEnd(5)} | ${`${r.runMs} ms`.padEnd(21)} | ${String(r.runMBps).padEnd(5)} | ${`${r.runRowBytes} B`.padEnd(7)} |`,
  );
const file = path.join(here, 'results', `${new Date().toISOString().slice(0, 10)}-payloads.json`);
await writeFile(
  file,
  `${JSON.stringify({ at: new Date().toISOString(), cpus: os.cpus().length, results }, null, 2)}\n`,
);
console.log(`\nwritten to ${path.relative(process.cwd(), file)}`);
