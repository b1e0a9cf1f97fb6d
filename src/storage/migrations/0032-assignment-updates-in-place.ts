import { sql } from 'kysely';
import type { Migration } from './ddl.js';

/**
 * A worker assignment is inserted at claim and updated twice or more (each heartbeat, then its
 * end). `idx_worker_assignments_worker (worker_id, status)` put `status` in an index, so no such
 * update could be HOT: each wrote a new entry into both indexes. Every reader finds assignments
 * by task (`idx_worker_assignments_task`) — the queue summary's held tasks now start from the
 * held tasks themselves (`idx_tasks_leases`) — so the index goes. On PostgreSQL the table keeps
 * a fifth of each page free, where those updates put the row's new version in place (HOT): no
 * index entry, and the page is the one already dirty.
 */
export const assignmentUpdatesInPlace: Migration = {
  version: 32,
  name: 'assignment-updates-in-place',
  async up(db, dialect) {
    await db.schema.dropIndex('idx_worker_assignments_worker').execute();
    if (dialect.name === 'postgres')
      await sql`ALTER TABLE worker_assignments SET (fillfactor = 80)`.execute(db);
  },
};
