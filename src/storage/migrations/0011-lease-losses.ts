import type { Migration } from './ddl.js';

/**
 * Two columns of `tasks` for attempts the platform, not the step, interrupts:
 *
 * - `lease_losses`: how many times the task's lease expired under it (its worker died or
 *   stalled). A lost lease is put back on the queue without consuming an attempt
 *   (`retry_count`), up to SWARM_MAX_LEASE_LOSSES, so a worker that keeps dying on one task
 *   cannot keep it on the queue for ever.
 * - `resume_state`: what a runtime that asked to sleep (builtin/delay) left for the attempt
 *   that resumes it, e.g. the moment it is due; null for a task that never slept.
 *
 * Neither is indexed: reclaim and claim already find the rows by idx_tasks_leases and
 * idx_tasks_ready.
 */
export const leaseLosses: Migration = {
  version: 11,
  name: 'lease-losses',
  async up(db, dialect) {
    await db.schema
      .alterTable('tasks')
      .addColumn('lease_losses', dialect.type('integer'), (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema.alterTable('tasks').addColumn('resume_state', dialect.type('json')).execute();
  },
};
