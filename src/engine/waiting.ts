import type { Kysely } from 'kysely';
import type { SwarmDatabase } from '../storage/index.js';

/**
 * What a run waits for: its waitpoints still `waiting` (an approval, an event, a sleep), oldest
 * first. Generic over the kinds, so each new wait shows without changes here.
 */
export interface WaitingView {
  readonly id: string;
  readonly kind: 'approval' | 'event' | 'sleep';
  readonly stepId: string | null;
  /** When it times out; null: it waits until settled or its run ends. */
  readonly timeoutAt: string | null;
  /** `event` waits: the event type they wait for. */
  readonly eventType?: string;
  readonly createdAt: string;
}

export async function readWaiting(
  db: Kysely<SwarmDatabase>,
  ownerId: string,
  runId: string,
): Promise<WaitingView[]> {
  const rows = await db
    .selectFrom('waitpoints')
    .select(['id', 'kind', 'step_id', 'timeout_at', 'event_type', 'created_at'])
    .where('run_id', '=', runId)
    .where('owner_id', '=', ownerId)
    .where('status', '=', 'waiting')
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  return rows.map((row) => ({
    id: row.id,
    kind: row.kind,
    stepId: row.step_id,
    timeoutAt: row.timeout_at,
    ...(row.event_type === null ? {} : { eventType: row.event_type }),
    createdAt: row.created_at,
  }));
}
