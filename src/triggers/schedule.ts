import { Cron } from 'croner';

/** The ticks of `cron` in `timezone` after `after` (exclusive) up to `until` (inclusive), at most `max`. */
export function ticksBetween(
  cron: string,
  timezone: string,
  after: Date,
  until: Date,
  max: number,
): { ticks: Date[]; more: boolean } {
  const job = new Cron(cron, { paused: true, timezone });
  try {
    const ticks: Date[] = [];
    let cursor: Date | null = after;
    while (cursor !== null) {
      cursor = job.nextRun(cursor);
      if (cursor === null || cursor.getTime() > until.getTime()) return { ticks, more: false };
      if (ticks.length === max) return { ticks, more: true };
      ticks.push(cursor);
    }
    return { ticks, more: false };
  } finally {
    job.stop();
  }
}

/** The next `count` ticks of `cron` in `timezone` after `after`; croner handles DST. */
export function nextTicks(cron: string, timezone: string, after: Date, count: number): Date[] {
  const job = new Cron(cron, { paused: true, timezone });
  try {
    return job.nextRuns(count, after);
  } finally {
    job.stop();
  }
}

/** The first tick after `after`, or null when the expression never fires again. */
export function nextTick(cron: string, timezone: string, after: Date): Date | null {
  return nextTicks(cron, timezone, after, 1)[0] ?? null;
}

/**
 * What a scheduler does with the ticks that came due since it last looked. Ticks later than
 * `graceMs` behind `now` were missed (no scheduler ran then): `skip` drops them, `catch_up` fires
 * the newest `catchUpLimit` of them. Ticks within the grace are on time and always fire.
 */
export function planTicks(
  due: readonly Date[],
  now: Date,
  policy: 'skip' | 'catch_up',
  catchUpLimit: number,
  graceMs: number,
): { fire: Date[]; skipped: Date[] } {
  const missed = due.filter((t) => now.getTime() - t.getTime() > graceMs);
  const onTime = due.filter((t) => now.getTime() - t.getTime() <= graceMs);
  if (policy === 'skip') return { fire: onTime, skipped: missed };
  const keep = Math.max(0, Math.min(catchUpLimit, missed.length));
  return {
    fire: [...missed.slice(missed.length - keep), ...onTime],
    skipped: missed.slice(0, missed.length - keep),
  };
}
