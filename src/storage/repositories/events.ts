import type { Kysely } from 'kysely';
import type { DialectAdapter } from '../dialect/dialect.js';
import type { SwarmDatabase } from '../schema-types.js';

/** An event `{source, type, payload}` as it is published; dispatched to subscribers later. */
export interface NewEvent {
  readonly ownerId: string;
  readonly source: string;
  readonly type: string;
  readonly payload: unknown;
  /**
   * The run that caused it (a step of it emitted the event, or the event is about it): the event
   * is one deeper than that run in the causation chain (see migration 0010).
   */
  readonly runId?: string | null;
  /**
   * That run's own `event_depth`, when the caller read it with the run under its lock (the
   * engine, for a run's end): saves looking it up. Never taken from a publisher.
   */
  readonly runEventDepth?: number;
  readonly taskId?: string | null;
  /** Publishing the same key twice stores one event (a retried attempt of the emitting task). */
  readonly idempotencyKey?: string | null;
}

/**
 * The depth of the events caused by each run the events name: one deeper than the event that
 * started the run (0 for a run no longer stored). Read from the runs, never taken from the
 * publisher, so an agent cannot reset its chain; one query for all of them (a subquery per row
 * made a batch of a thousand run ends four times slower to insert on PostgreSQL).
 */
async function causingRunDepths(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  events: readonly Pick<NewEvent, 'runId' | 'runEventDepth'>[],
): Promise<Map<string, number>> {
  const runIds = [
    ...new Set(
      events.flatMap((e) =>
        e.runId === undefined || e.runId === null || e.runEventDepth !== undefined ? [] : [e.runId],
      ),
    ),
  ];
  const depths = new Map<string, number>();
  const size = dialect.maxParameters - 10;
  for (let i = 0; i < runIds.length; i += size) {
    const rows = await db
      .selectFrom('workflow_runs')
      .select(['id', 'event_depth'])
      .where('id', 'in', runIds.slice(i, i + size))
      .execute();
    for (const row of rows) depths.set(row.id, row.event_depth + 1);
  }
  return depths;
}

/**
 * An event ready to be stored: its id chosen and its payload already the column's text. Storage
 * only writes JSON text; whether a large payload goes to the blob store (and the column holds a
 * reference) is decided above it, by `insertEvents` in blobs.
 */
export interface PreparedEvent extends Omit<NewEvent, 'payload'> {
  readonly id: string;
  readonly payloadJson: string;
}

/** The system's own events use this source. */
export const SYSTEM_EVENT_SOURCE = 'swarm';

/**
 * Stores events as pending, in the caller's transaction (so a run's end and its `run.completed`
 * event commit together), and wakes the dispatchers. Returns the stored ids in order; a keyed
 * event that was already published returns the first one's id.
 */
export async function insertEventRows(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  events: readonly PreparedEvent[],
): Promise<string[]> {
  if (events.length === 0) return [];
  const depths = await causingRunDepths(db, dialect, events);
  const rows = events.map((event) => ({
    id: event.id,
    owner_id: event.ownerId,
    source: event.source,
    type: event.type,
    payload: event.payloadJson,
    run_id: event.runId ?? null,
    task_id: event.taskId ?? null,
    idempotency_key: event.idempotencyKey ?? null,
    depth:
      event.runId === undefined || event.runId === null
        ? 0
        : event.runEventDepth !== undefined
          ? event.runEventDepth + 1
          : (depths.get(event.runId) ?? 0),
  }));
  const size = Math.floor((dialect.maxParameters - 200) / 9);
  for (let i = 0; i < rows.length; i += size) {
    await db
      .insertInto('events')
      .values(rows.slice(i, i + size))
      // Both dialects speak ON CONFLICT; the unique index is (owner_id, idempotency_key).
      .onConflict((oc) => oc.columns(['owner_id', 'idempotency_key']).doNothing())
      .execute();
  }
  // A keyed event published before keeps its first id: read back in one query per owner.
  const stored = new Map<string, string>();
  for (const owner of new Set(rows.filter((r) => r.idempotency_key !== null).map((r) => r.owner_id))) {
    const keys = rows
      .filter((r) => r.owner_id === owner && r.idempotency_key !== null)
      .map((r) => r.idempotency_key!);
    const found = await db
      .selectFrom('events')
      .select(['id', 'idempotency_key'])
      .where('owner_id', '=', owner)
      .where('idempotency_key', 'in', keys)
      .execute();
    for (const row of found) stored.set(`${owner}\0${row.idempotency_key}`, row.id);
  }
  const ids = rows.map((row) =>
    row.idempotency_key === null ? row.id : (stored.get(`${row.owner_id}\0${row.idempotency_key}`) ?? row.id),
  );
  await dialect.notify(db as Kysely<unknown>, EVENTS_CHANNEL);
  return ids;
}

/** The channel a publish notifies, so idle dispatchers look at once instead of at their next poll. */
export const EVENTS_CHANNEL = 'swarm_events';
