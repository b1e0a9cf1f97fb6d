/**
 * Publishing events with payloads of any size: a payload over SWARM_PAYLOAD_INLINE_MAX goes to
 * the blob store here, above storage, and storage writes the reference like any other JSON text.
 */
import type { Kysely } from 'kysely';
import {
  insertEventRows,
  newId,
  type DialectAdapter,
  type NewEvent,
  type SwarmDatabase,
} from '../storage/index.js';
import { inlineJson, storeLargeColumns } from './json.js';

/**
 * Stores events as pending, in the caller's transaction (so a run's end and its `run.completed`
 * event commit together, and a payload's blob reference with them), and wakes the dispatchers.
 * Returns the stored ids in order; a keyed event that was already published returns the first
 * one's id.
 */
export async function insertEvents(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  events: readonly NewEvent[],
): Promise<string[]> {
  if (events.length === 0) return [];
  const rows = events.map((event) => ({
    id: newId(),
    owner_id: event.ownerId,
    payload: inlineJson(event.payload === undefined ? null : event.payload),
  }));
  await storeLargeColumns(
    { db, dialect },
    rows,
    'payload',
    events.map((event) => event.payload),
    'events',
    (j) => `events[${j}].payload`,
  );
  return insertEventRows(
    db,
    dialect,
    events.map((event, j) => {
      const { payload: _payload, ...rest } = event;
      return { ...rest, id: rows[j]!.id, payloadJson: rows[j]!.payload };
    }),
  );
}
