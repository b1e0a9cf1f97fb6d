import type { Migration } from './ddl.js';

/**
 * An owner's own retention (docs/retention.md), set by an admin: how many days the owner's
 * finished runs and finished tasks of no run (and with them their payloads' blobs) are kept,
 * in place of `SWARM_RETENTION_RUNS_DAYS` and `SWARM_RETENTION_TASKS_DAYS`; 0 keeps them
 * forever, NULL leaves the server's settings.
 */
export const ownerRetention: Migration = {
  version: 37,
  name: 'owner-retention',
  async up(db, dialect) {
    await db.schema.alterTable('users').addColumn('retention_days', dialect.type('integer')).execute();
  },
};
