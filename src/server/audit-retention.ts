import type { Store } from '../storage/index.js';

/** How often old audit rows are deleted: hourly is plenty for a retention counted in days. */
const PRUNE_INTERVAL_MS = 60 * 60_000;
const DAY_MS = 86_400_000;

export interface AuditRetentionOptions {
  /** SWARM_AUDIT_RETENTION_DAYS; 0 keeps the log forever. */
  readonly days: number;
  readonly onError: (error: unknown) => void;
  readonly now?: () => number;
}

/**
 * Deletes audit rows past their retention: once soon after start, then hourly, a batch at a
 * time until none are left (so a large backlog never holds one long lock). Every server process
 * does it; the deletes are idempotent. Returns a stop function.
 */
export function startAuditRetention(store: Store, options: AuditRetentionOptions): () => Promise<void> {
  if (options.days <= 0) return async () => {};
  let running: Promise<void> | null = null;
  let stopped = false;
  const prune = () => {
    running ??= pruneAudit(store, options.days, options.now?.() ?? Date.now(), () => stopped)
      .then(() => undefined, options.onError)
      .finally(() => {
        running = null;
      });
  };
  const first = setTimeout(prune, 5_000);
  const timer = setInterval(prune, PRUNE_INTERVAL_MS);
  first.unref();
  timer.unref();
  return async () => {
    stopped = true;
    clearTimeout(first);
    clearInterval(timer);
    await running;
  };
}

/** Deletes every audit row older than `days` before `now`; returns how many. */
export async function pruneAudit(
  store: Store,
  days: number,
  now = Date.now(),
  stop: () => boolean = () => false,
): Promise<number> {
  const before = new Date(now - days * DAY_MS).toISOString();
  let total = 0;
  for (;;) {
    const deleted = await store.system.pruneAudit(before);
    total += deleted;
    if (deleted === 0 || stop()) return total;
  }
}
