// The faults of a chaos run: when they happen (a timeline drawn from the seed before the run
// starts, so a seed names one schedule) and what each does to the processes.
import { restartPostgres } from './procs.mjs';

/** mulberry32: a small seeded PRNG, so a seed reproduces the workload and the fault schedule. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** @param {() => number} random  @param {number} lo  @param {number} hi */
export const uniform = (random, lo, hi) => lo + (hi - lo) * random();

/**
 * The fault schedule over a load phase of `durationMs`: worker kills every `killEveryMs` and
 * worker stalls every `stallEveryMs` on average (±50%), and `pgRestarts` PostgreSQL restarts and `serverKills`
 * server kills spread over the phase, alternating and apart from each other (each needs the
 * system whole before it to say anything about it).
 * @param {() => number} random
 * @param {{durationMs: number, killEveryMs: number, stallEveryMs: number, pgRestarts: number, serverKills: number}} o
 * @returns {Array<{t: number, type: 'kill' | 'stall' | 'pg-restart' | 'server-kill'}>}
 */
export function timeline(random, o) {
  const start = Math.min(5000, o.durationMs * 0.1);
  const end = o.durationMs - Math.min(5000, o.durationMs * 0.1);
  const events = [];
  /** @param {'kill' | 'stall'} type  @param {number} every  mean interval; 0: none */
  const recurring = (type, every) => {
    if (every <= 0) return;
    for (let t = start + uniform(random, 0.2, 1) * every; t < end; t += uniform(random, 0.5, 1.5) * every)
      events.push({ t, type });
  };
  recurring('kill', o.killEveryMs);
  recurring('stall', o.stallEveryMs);
  const big = [];
  for (let i = 0; i < Math.max(o.pgRestarts, o.serverKills); i++) {
    if (i < o.serverKills) big.push('server-kill');
    if (i < o.pgRestarts) big.push('pg-restart');
  }
  const slot = (end - start) / Math.max(1, big.length);
  big.forEach((type, i) =>
    events.push({
      t: start + slot * (i + 0.5) + uniform(random, -0.2, 0.2) * slot,
      type: /** @type {any} */ (type),
    }),
  );
  return events.sort((a, b) => a.t - b.t);
}

/**
 * Carries out faults on the cluster and records each: what, to whom, when (ms epoch), and for
 * kills and stalls the worker id, so the checker finds the claims the worker held.
 */
export class FaultInjector {
  /**
   * @param {object} o
   * @param {() => number} o.random
   * @param {import('./procs.mjs').SwarmProcess[]} o.workers
   * @param {import('./procs.mjs').SwarmProcess} o.server
   * @param {number} o.leaseMs
   * @param {[string, string[]] | null} o.pgRestart
   * @param {(size: number) => Promise<unknown>} o.webhookBurst  sends `size` deliveries at once
   * @param {(line: string) => void} o.say
   */
  constructor(o) {
    this.o = o;
    /** @type {Array<Record<string, any>>} */
    this.done = [];
    /** @type {Set<Promise<void>>} */
    this.pending = new Set();
    /** Worker ids by pid, from each incarnation's ready line. */
    this.ids = new Map();
  }

  /** Starts a fault without waiting for it (a kill's restart, a stall's resume come later). */
  inject(type) {
    const p = this[type === 'pg-restart' ? 'pgRestart' : type === 'server-kill' ? 'serverKill' : type]()
      .catch((error) => {
        this.done.push({ type, at: Date.now(), error: String(error) });
        this.o.say(`fault ${type} failed: ${error}`);
      })
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  async settle() {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  /**
   * A random running worker, or null when taking it would leave none running: the faults test
   * recovery, and with every worker down (restarts are slow on a loaded machine) the one that
   * comes back takes the whole backlog — including every task just taken back — and the next
   * fault takes it all again.
   */
  pickWorker() {
    const up = this.o.workers.filter((w) => w.state === 'up');
    if (up.length === 0 || (up.length === 1 && this.o.workers.length > 1)) return null;
    return up[Math.floor(this.o.random() * up.length)];
  }

  workerId(worker) {
    return worker.incarnations.at(-1)?.readyMatch?.[1] ?? null;
  }

  async kill() {
    const worker = this.pickWorker();
    if (worker === null)
      return void this.done.push({
        type: 'kill',
        at: Date.now(),
        skipped: 'it would leave no worker running',
      });
    const record = {
      type: 'kill',
      target: worker.o.name,
      pid: worker.pid,
      workerId: this.workerId(worker),
      at: Date.now(),
    };
    this.done.push(record);
    await worker.kill9();
    await sleep(uniform(this.o.random, 300, 3000));
    await worker.start();
    record.restartedAt = Date.now();
  }

  async stall() {
    const worker = this.pickWorker();
    if (worker === null)
      return void this.done.push({
        type: 'stall',
        at: Date.now(),
        skipped: 'it would leave no worker running',
      });
    const record = {
      type: 'stall',
      target: worker.o.name,
      pid: worker.pid,
      workerId: this.workerId(worker),
      at: Date.now(),
    };
    if (!worker.stop()) return;
    this.done.push(record);
    // Past the lease: its tasks must be taken back and its late completions refused.
    await sleep(this.o.leaseMs + uniform(this.o.random, 1000, 4000));
    worker.resume();
    record.resumedAt = Date.now();
  }

  async pgRestart() {
    if (this.o.pgRestart === null) return;
    const record = { type: 'pg-restart', at: Date.now() };
    this.done.push(record);
    this.o.say('restarting PostgreSQL');
    record.tookMs = await restartPostgres(this.o.pgRestart);
    this.o.say(`PostgreSQL restarted in ${record.tookMs} ms`);
  }

  /** kill -9 of the API server while a burst of signed webhooks is arriving, then a restart. */
  async serverKill() {
    const burstSize = 40;
    const burst = this.o.webhookBurst(burstSize);
    await sleep(uniform(this.o.random, 20, 300));
    const record = { type: 'server-kill', pid: this.o.server.pid, at: Date.now(), burst: burstSize };
    this.done.push(record);
    await this.o.server.kill9();
    this.o.say('server killed (kill -9) during a webhook burst');
    await sleep(uniform(this.o.random, 500, 2000));
    await this.o.server.start();
    record.restartedAt = Date.now();
    this.o.say(`server back after ${record.restartedAt - record.at} ms`);
    await burst;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
