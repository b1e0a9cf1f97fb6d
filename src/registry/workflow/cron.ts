/**
 * Ticks of a schedule's cron expression in its time zone, as croner computes them (DST
 * included): what the scheduler fires, what `swarm triggers next` shows, and where standalone
 * scheduled tasks start. Kept with the rest of the schedule spec (see trigger.ts).
 */
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
