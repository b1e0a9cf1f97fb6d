import { createIndex, type Migration } from './ddl.js';

/**
 * Waiting for events (issue 17): what the event dispatcher reads to match events to `event`
 * waitpoints (0022) without touching a waiting run when no event comes.
 *
 * - `idx_events_owner_type_created`: the lookback. A new event waitpoint is checked once against
 *   the events its owner published of its type since `events_since`, oldest first: a range read
 *   of this index, whatever other owners and types publish.
 * - `idx_waitpoints_backfill`: the event waitpoints not yet checked against the lookback
 *   (`matched_through` still null). It holds only the waitpoints created since the dispatcher's
 *   last pass, so the pass that finds none reads an empty index.
 */
export const eventWaits: Migration = {
  version: 24,
  name: 'event-waits',
  async up(db, dialect) {
    await createIndex(db, dialect, 'idx_events_owner_type_created', 'events', [
      'owner_id',
      'type',
      'created_at',
    ]);
    await createIndex(db, dialect, 'idx_waitpoints_backfill', 'waitpoints', ['created_at'], {
      where: "status = 'waiting' AND kind = 'event' AND matched_through IS NULL",
    });
  },
};
