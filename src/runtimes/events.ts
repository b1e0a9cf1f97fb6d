/**
 * Events are written to the `events` table (migration 0006) and dispatched to event triggers
 * later by the dispatcher, which reads pending rows. Publishing is only the durable write: an
 * event is never lost between being emitted and reaching the workflows subscribed to it.
 */
import type { Generated, Kysely } from 'kysely';
import { newId, toDbJson, type DatabaseHandle, type Store } from '../storage/index.js';
import { RuntimeError } from './errors.js';
import type { EmittedEvent, EventSink } from './types.js';

/** The row, for Kysely; declared here so this part does not edit the shared schema types. */
export interface EventsTable {
  id: string;
  owner_id: string;
  source: string;
  type: string;
  payload: string;
  run_id: string | null;
  task_id: string | null;
  idempotency_key: string | null;
  status: Generated<string>;
  dispatched_at: string | null;
  created_at: Generated<string>;
}

export class DatabaseEventSink implements EventSink {
  private readonly db: Kysely<{ events: EventsTable }>;

  constructor(store: Store | DatabaseHandle) {
    const handle = 'handle' in store ? store.handle : store;
    this.db = handle.db.withTables<{ events: EventsTable }>() as unknown as Kysely<{ events: EventsTable }>;
  }

  async publish(event: EmittedEvent): Promise<string> {
    for (const field of ['ownerId', 'source', 'type'] as const) {
      if (typeof event[field] !== 'string' || event[field] === '')
        throw RuntimeError.invalidInput(`event.${field}`, 'must be a non-empty string');
    }
    let payload: string;
    try {
      payload = toDbJson(event.payload === undefined ? null : event.payload);
    } catch (error) {
      throw RuntimeError.invalidInput('event.payload', `must be JSON: ${(error as Error).message}`);
    }
    const id = newId();
    const key = event.idempotencyKey ?? null;
    const insert = this.db.insertInto('events').values({
      id,
      owner_id: event.ownerId,
      source: event.source,
      type: event.type,
      payload,
      run_id: event.runId ?? null,
      task_id: event.taskId ?? null,
      idempotency_key: key,
    });
    if (key === null) {
      await insert.execute();
      return id;
    }
    // Both dialects speak ON CONFLICT; the unique index is (owner_id, idempotency_key).
    await insert.onConflict((oc) => oc.columns(['owner_id', 'idempotency_key']).doNothing()).execute();
    const stored = await this.db
      .selectFrom('events')
      .select('id')
      .where('owner_id', '=', event.ownerId)
      .where('idempotency_key', '=', key)
      .executeTakeFirstOrThrow();
    return stored.id;
  }
}
