// The machine's own limit for a PostgreSQL queue, as a reference for every row above it:
// the smallest transaction a durable queue needs per job (insert one row, claim it with
// FOR UPDATE SKIP LOCKED, delete it, commit), one statement per round trip like pgbench's
// default mode, with 1 and with 4 connections for a fixed time. Measured twice:
//  - node: a loop in Node over `pg`, the client stack every system in the table uses;
//  - pgbench: the same script through PostgreSQL's own C client, when pgbench is installed,
//    which shows how much of the first figure is the Node client rather than the server.
// One commit per job: systems that batch claims and completions amortise commits and go past it.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import pg from 'pg';

const CLAIM = `update limit_q set locked_by = $1
  where id = (select id from limit_q where locked_by is null order by id for update skip locked limit 1)
  returning id`;

/**
 * @param {{ pgUrl: string, seconds: number, connections: number[] }} opts
 * @returns {Promise<{ txPerSec: Record<string, number>, pgbenchTxPerSec: Record<string, number> | null }>}
 *   per connection count, e.g. { c1: 1000, c4: 2500 }
 */
export async function run({ pgUrl, seconds, connections }) {
  const setup = new pg.Client({ connectionString: pgUrl });
  await setup.connect();
  await setup.query(
    'create table limit_q (id bigserial primary key, payload jsonb not null, locked_by text)',
  );

  /** @type {Record<string, number>} */
  const txPerSec = {};
  for (const n of connections) {
    await setup.query('truncate limit_q');
    txPerSec[`c${n}`] = await nodeLoop(pgUrl, n, seconds);
  }

  /** @type {Record<string, number> | null} */
  let pgbenchTxPerSec = {};
  for (const n of connections) {
    await setup.query('truncate limit_q');
    const tps = await pgbench(pgUrl, n, seconds);
    if (tps === null) {
      pgbenchTxPerSec = null;
      break;
    }
    pgbenchTxPerSec[`c${n}`] = tps;
  }

  await setup.query('drop table limit_q');
  await setup.end();
  return { txPerSec, pgbenchTxPerSec };
}

/**
 * @param {string} pgUrl
 * @param {number} n  connections, each looping on its own
 * @param {number} seconds
 */
async function nodeLoop(pgUrl, n, seconds) {
  const clients = await Promise.all(
    Array.from({ length: n }, async () => {
      const c = new pg.Client({ connectionString: pgUrl });
      await c.connect();
      return c;
    }),
  );
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  const counts = await Promise.all(
    clients.map(async (c, i) => {
      let done = 0;
      while (performance.now() < deadline) {
        await c.query('begin');
        await c.query(`insert into limit_q (payload) values ('{}')`);
        const { rows } = await c.query(CLAIM, [`c${i}`]);
        if (rows[0]) await c.query('delete from limit_q where id = $1', [rows[0].id]);
        await c.query('commit');
        done++;
      }
      return done;
    }),
  );
  await Promise.all(clients.map((c) => c.end()));
  const total = counts.reduce((a, b) => a + b, 0);
  return Math.round((total * 1000) / (performance.now() - t0));
}

/**
 * The same transaction through pgbench; null if pgbench is not installed or fails.
 * @param {string} pgUrl
 * @param {number} n
 * @param {number} seconds
 */
async function pgbench(pgUrl, n, seconds) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'swarm-bench-pgbench-'));
  const script = path.join(dir, 'limit.sql');
  await writeFile(
    script,
    [
      'begin;',
      `insert into limit_q (payload) values ('{}');`,
      `${CLAIM.replace('$1', `'x'`).replace(/\n\s*/g, ' ')} \\gset`,
      'delete from limit_q where id = :id;',
      'commit;',
      '',
    ].join('\n'),
  );
  try {
    const { stdout } = await promisify(execFile)(
      'pgbench',
      ['-n', '-f', script, '-c', String(n), '-j', String(n), '-T', String(seconds), pgUrl],
      { timeout: (seconds + 30) * 1000 },
    );
    const tps = /tps = ([\d.]+)/.exec(stdout)?.[1];
    return tps ? Math.round(Number(tps)) : null;
  } catch {
    return null;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
