import { toDbTimestamp, type Store } from '../storage/index.js';

export interface Retention {
  /** Dispatched events older than this are deleted. */
  readonly eventsDays: number;
  /** Firings older than this are deleted: a webhook delivery id is remembered this long. */
  readonly firingsDays: number;
}

const DAY_MS = 86_400_000;

/**
 * Deletes what has served its purpose, at most `limit` rows of each per call (the daemon calls
 * it every minute, so a backlog drains without one long lock): dispatched events — every run's end
 * is one — and old firings. Pending and failed events are never deleted.
 */
export async function pruneTriggerRecords(
  store: Store,
  retention: Retention,
  now = new Date(),
  limit = 5000,
): Promise<{ events: number; firings: number }> {
  const db = store.handle.db;
  const eventsBefore = toDbTimestamp(new Date(now.getTime() - retention.eventsDays * DAY_MS));
  const events = await db
    .deleteFrom('events')
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('events')
        .select('id')
        .where('created_at', '<', eventsBefore)
        .where('status', '=', 'dispatched')
        .orderBy('created_at')
        .limit(limit),
    )
    .executeTakeFirst();
  const firingsBefore = toDbTimestamp(new Date(now.getTime() - retention.firingsDays * DAY_MS));
  const firings = await db
    .deleteFrom('trigger_firings')
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('trigger_firings')
        .select('id')
        .where('created_at', '<', firingsBefore)
        .orderBy('created_at')
        .limit(limit),
    )
    .executeTakeFirst();
  return { events: Number(events.numDeletedRows), firings: Number(firings.numDeletedRows) };
}
