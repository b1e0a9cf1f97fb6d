/**
 * The evaluator threads (thread.ts): up to two, started when an expression first needs one.
 * Evaluations queue first come, first served; each runs alone in its thread, and the time
 * limit counts from when it is handed over. A thread still busy past the limit (plus a grace
 * for jsonata's own check to answer first) is terminated — that stops even a native call —
 * and a fresh one replaces it; one that runs out of heap is ended by V8. Either way only that
 * evaluation fails. Threads are unreferenced while idle, so they never keep a process alive.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ExpressionLimitError } from './errors.js';
import { expressionLimits, threadHeapMb, type ExpressionLimits } from './limits.js';
import type { ThreadReply, ThreadRequest } from './protocol.js';

const MAX_THREADS = 2;
/**
 * Threads being terminated still run until their current native call returns (a `$pad` to
 * 500 million characters takes seconds): at most this many at once, so a stream of hostile
 * expressions cannot take every core. Past it, evaluations queue until one has ended.
 */
const MAX_DYING = 2;
/** Past the time limit, how long jsonata's own check inside the thread has to answer. */
const KILL_GRACE_MS = 200;

interface Job {
  readonly request: ThreadRequest;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  waitTimer?: NodeJS.Timeout;
}

interface Slot {
  readonly worker: Worker;
  ready: boolean;
  gone: boolean;
  job: Job | null;
  timer?: NodeJS.Timeout;
}

const slots: Slot[] = [];
const queue: Job[] = [];
const counts = { started: 0, stopped: 0 };
let dying = 0;
/** How many threads the pool keeps once demand has started them: a stopped one is replaced. */
let wanted = 0;
let lastId = 0;

/** Evaluates `source` against `context` (structured-cloned: JSON) in an evaluator thread. */
export function evaluateInThread(
  source: string,
  context: unknown,
  limits: ExpressionLimits,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    // No limit on the wait itself: every evaluation ahead is bounded by its own time limit and
    // the queue is first come, first served, so a job always gets a thread. Failing it for
    // waiting would fail a healthy step for the load other steps cause.
    const job: Job = { request: { id: ++lastId, source, context, limits }, resolve, reject };
    queue.push(job);
    pump();
  });
}

/** Counts for tests and diagnostics. */
export function expressionThreadStats(): {
  threads: number;
  busy: number;
  queued: number;
  dying: number;
  started: number;
  stopped: number;
} {
  return {
    threads: slots.length,
    busy: slots.filter((s) => s.job !== null).length,
    queued: queue.length,
    dying,
    ...counts,
  };
}

/** Stops every evaluator thread; queued and running evaluations fail. */
export async function closeExpressionThreads(): Promise<void> {
  const closing = new Error('the expression evaluator was closed');
  for (const job of queue.splice(0)) fail(job, closing);
  await Promise.all([...slots].map((slot) => stop(slot, closing, false)));
}

function pump(): void {
  while (queue.length > 0) {
    const idle = slots.find((s) => s.ready && s.job === null);
    if (idle === undefined) {
      // One thread starts at a time: it takes the queue's head when ready, and pumps again.
      if (slots.every((s) => s.ready)) startIfAllowed();
      return;
    }
    dispatch(idle, queue.shift()!);
  }
}

function dispatch(slot: Slot, job: Job): void {
  clearTimeout(job.waitTimer);
  slot.job = job;
  slot.worker.ref();
  try {
    slot.worker.postMessage(job.request);
  } catch (error) {
    // Not cloneable (a context is JSON, so this is a caller's bug): that evaluation fails.
    slot.job = null;
    slot.worker.unref();
    job.reject(error);
    return;
  }
  const { source, limits } = job.request;
  slot.timer = setTimeout(
    () => void stop(slot, new ExpressionLimitError('time', source, limits)),
    limits.timeoutMs + KILL_GRACE_MS,
  );
}

function onReply(slot: Slot, reply: ThreadReply): void {
  if ('ready' in reply) {
    slot.ready = true;
    pump();
    return;
  }
  const job = slot.job;
  if (slot.gone || job === null || job.request.id !== reply.id) return;
  clearTimeout(slot.timer);
  slot.job = null;
  slot.worker.unref();
  const { source, limits } = job.request;
  if ('value' in reply) job.resolve(reply.value);
  else if ('limit' in reply) job.reject(new ExpressionLimitError(reply.limit, source, limits));
  else job.reject(Object.assign(new Error(reply.error.message), reply.error));
  pump();
}

function onFailure(slot: Slot, error: Error & { code?: string }): void {
  if (slot.gone) return;
  if (!slot.ready) {
    // A thread that cannot start would fail again at once: fail what waits, start none now.
    const failed = new Error(`the expression evaluator thread did not start: ${error.message}`);
    for (const job of queue.splice(0)) fail(job, failed);
    void stop(slot, failed, false);
    return;
  }
  const job = slot.job;
  const outOfMemory = error.code === 'ERR_WORKER_OUT_OF_MEMORY';
  void stop(
    slot,
    outOfMemory && job !== null
      ? new ExpressionLimitError('memory', job.request.source, job.request.limits)
      : new Error(`the expression evaluator thread failed: ${error.message}`),
  );
}

/** Ends a thread, failing its evaluation with `error`, and starts its replacement. */
async function stop(slot: Slot, error: Error, replace = true): Promise<void> {
  if (slot.gone) return;
  slot.gone = true;
  clearTimeout(slot.timer);
  slots.splice(slots.indexOf(slot), 1);
  counts.stopped++;
  if (slot.job !== null) fail(slot.job, error);
  slot.job = null;
  dying++;
  if (!replace) wanted = Math.min(wanted, slots.length);
  // A warm replacement right away: the next expression does not wait for a thread to start.
  topUp();
  pump();
  try {
    await slot.worker.terminate();
  } finally {
    dying--;
    topUp();
    pump();
  }
}

function startIfAllowed(): void {
  if (slots.length < MAX_THREADS && dying < MAX_DYING) {
    start();
    wanted = Math.max(wanted, slots.length);
  }
}

/** Replaces stopped threads, as far as the threads still dying allow. */
function topUp(): void {
  while (slots.length < wanted && dying < MAX_DYING) if (!start()) return;
}

function fail(job: Job, error: Error): void {
  clearTimeout(job.waitTimer);
  job.reject(error);
}

/** Starts a thread; false (and what waits failed) when none can be started. */
function start(): boolean {
  let worker: Worker;
  try {
    worker = new Worker(threadScript(), {
      resourceLimits: {
        maxOldGenerationSizeMb: threadHeapMb(expressionLimits()),
        maxYoungGenerationSizeMb: 32,
        stackSizeMb: 4,
      },
    });
  } catch (error) {
    for (const job of queue.splice(0)) fail(job, error as Error);
    return false;
  }
  worker.unref();
  const slot: Slot = { worker, ready: false, gone: false, job: null };
  slots.push(slot);
  counts.started++;
  worker.on('message', (reply: ThreadReply) => onReply(slot, reply));
  worker.on('error', (error) => onFailure(slot, error));
  worker.on('exit', (code) => onFailure(slot, new Error(`exited with code ${code}`)));
  return true;
}

let script: URL | undefined;

/**
 * thread.js beside this module (dist/); under vitest this module is TypeScript in src/, which
 * a worker thread cannot load, so the build's copy (tests run `npm run build` first).
 */
function threadScript(): URL {
  if (script !== undefined) return script;
  const candidates = [
    new URL('./thread.js', import.meta.url),
    new URL('../../dist/expressions/thread.js', import.meta.url),
  ];
  script = candidates.find((url) => fs.existsSync(fileURLToPath(url)));
  if (script === undefined)
    throw new Error(
      `the expression evaluator thread is missing (looked for ${candidates.map((u) => fileURLToPath(u)).join(', ')}); run npm run build`,
    );
  return script;
}
