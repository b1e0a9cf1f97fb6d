// Helpers shared by the harness (run.mjs) and the system modules (systems/*.mjs).
// Every system measures the same way, so the timing code lives here, once.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';

export { sleep };

/**
 * Enqueue `total` jobs in sequential batches of `batchSize` and return jobs/s.
 * Batches rather than one giant call: that is how a producer enqueues in practice,
 * and it keeps every system's single statement/pipeline at the same bounded size.
 * @param {number} total
 * @param {number} batchSize
 * @param {(offset: number, count: number) => Promise<unknown>} addBatch
 * @returns {Promise<number>} jobs per second
 */
export async function timeEnqueue(total, batchSize, addBatch) {
  const t0 = performance.now();
  for (let offset = 0; offset < total; offset += batchSize) {
    await addBatch(offset, Math.min(batchSize, total - offset));
  }
  return perSecond(total, performance.now() - t0);
}

/**
 * Counts handler invocations. `firstAt` is when the first job started; `allHandled`
 * resolves once `total` handlers have run. Handlers having run is not the end of the
 * measurement: systems that complete jobs asynchronously or in batches are only done
 * when their store says so (see `waitUntil`).
 * @param {number} total
 */
export function handlerCounter(total) {
  /** @type {(t: number) => void} */
  let resolve = () => {};
  const allHandled = new Promise((r) => (resolve = r));
  const c = {
    count: 0,
    firstAt: 0,
    allHandled,
    /** @param {number} [n] jobs handled by this call (batch handlers pass their size) */
    hit(n = 1) {
      if (c.count === 0) c.firstAt = performance.now();
      c.count += n;
      if (c.count >= total) resolve(performance.now());
    },
  };
  return c;
}

/**
 * Poll `check` until it returns true; returns the time it first did. Used after all
 * handlers ran, to wait for the store to confirm every completion (cheap: a handful of polls).
 * @param {() => Promise<boolean>} check
 * @param {number} [intervalMs]
 */
export async function waitUntil(check, intervalMs = 5) {
  while (!(await check())) await sleep(intervalMs);
  return performance.now();
}

/**
 * @param {number} count
 * @param {number} ms
 */
export function perSecond(count, ms) {
  return ms > 0 ? Math.round((count * 1000) / ms) : 0;
}

/** A payload per job: small, and different per job so nothing can be deduplicated. */
export const payload = (/** @type {number} */ i) => ({ i });

/**
 * The URL of database `name` on the same server as `url`.
 * @param {string} url
 * @param {string} name
 */
export function withDatabase(url, name) {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/**
 * Refresh the planner's statistics after the bulk enqueue, before the drain: a long-lived queue
 * table always has them (autovacuum), a table filled a moment ago has none. Without this,
 * pg-boss's completion query picks a nested-loop plan over 20k fresh rows and drains 4–10×
 * slower than it does in steady state. Every PostgreSQL system calls it at the same point.
 * @param {string} pgUrl
 */
export async function analyze(pgUrl) {
  const c = new pg.Client({ connectionString: pgUrl });
  await c.connect();
  try {
    await c.query('analyze');
  } finally {
    await c.end();
  }
}
