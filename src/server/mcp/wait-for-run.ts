import type { Engine, RunView } from '../../engine/index.js';
import type { Caller } from '../../storage/index.js';

/** The statuses a run does not leave (unless retried): its result or error is known. */
const ENDED: ReadonlySet<string> = new Set(['completed', 'failed', 'cancelled', 'timeout']);

export function runHasEnded(run: Pick<RunView, 'status'>): boolean {
  return ENDED.has(run.status);
}

export interface RunWait {
  /** Give up after this long and return the run as it stands. */
  readonly waitMs: number;
  /** How often the run is read. */
  readonly pollMs: number;
  /** Stops waiting early (the client went away, the server is closing). */
  readonly signal?: AbortSignal;
}

/**
 * The run once it has ended, or as it stands when the wait is over. The run may be executed by
 * a worker in any process, so the database is the only place its end can be seen: it is read
 * every `pollMs`, as the run event stream does (src/server/routes/run-events.ts). Its handlers
 * (on_error, on_success) are not waited for: the result is known without them.
 */
export async function waitForRunEnd(
  engine: Engine,
  caller: Caller,
  runId: string,
  wait: RunWait,
): Promise<RunView> {
  const deadline = Date.now() + wait.waitMs;
  for (;;) {
    const run = await engine.getRun(caller, runId);
    const left = deadline - Date.now();
    if (runHasEnded(run) || left <= 0 || wait.signal?.aborted === true) return run;
    await pause(Math.min(wait.pollMs, left), wait.signal);
  }
}

function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
