import { createIndex, table, type Migration } from './ddl.js';

/**
 * Flow control in the claim (issue 18, docs/flow-control.md): concurrency limits, rate limits
 * and owner quotas, keyed.
 *
 * - `tasks.concurrency_key` (since 0004, unused until now) marks a keyed task: its first flow
 *   key. `tasks.flow_keys` lists all of them (JSON text). An unkeyed task has both null and is
 *   claimed by the unchanged one-statement claim, over idx_tasks_ready, now restricted to
 *   unkeyed tasks so a keyed backlog never lies across its path.
 * - `tasks.parked_key`: a keyed task the claim refused waits here, off every ready index, under
 *   the key that refused it, its `run_at` kept (FIFO within the key survives). The claim unparks
 *   the oldest ones when that key has room again.
 * - `flow_keys`: one row per key: its limits, the lock claimers serialise on, and `wake_at`,
 *   before which a full rate-limited key is not looked at again.
 * - `flow_slots`: who holds a concurrency slot. A slot counts only while its task is RUNNING
 *   at the slot's lease_epoch, so no exit path (complete, fail, sleep, reclaim, cancel) has to
 *   give it back; dead rows are pruned under the key's lock.
 * - `flow_starts`: the starts of a rate-limited key within its window (a sliding log).
 * - `users.max_running_tasks`: the owner quota an admin sets.
 */
export const flowControl: Migration = {
  version: 26,
  name: 'flow-control',
  async up(db, dialect) {
    await db.schema.alterTable('tasks').addColumn('flow_keys', dialect.type('text')).execute();
    await db.schema.alterTable('tasks').addColumn('parked_key', dialect.type('text')).execute();
    await db.schema.alterTable('users').addColumn('max_running_tasks', dialect.type('integer')).execute();

    await db.schema.dropIndex('idx_tasks_ready').execute();
    await createIndex(db, dialect, 'idx_tasks_ready', 'tasks', ['priority desc', 'run_at', 'id'], {
      where: "status = 'PENDING' AND concurrency_key IS NULL",
    });
    // Fairness: the owners with ready unkeyed work, found by a loose index scan, each claimed
    // from in its own order.
    await createIndex(
      db,
      dialect,
      'idx_tasks_ready_owner',
      'tasks',
      ['owner_id', 'priority desc', 'run_at', 'id'],
      {
        where: "status = 'PENDING' AND concurrency_key IS NULL",
      },
    );
    await createIndex(db, dialect, 'idx_tasks_flow_ready', 'tasks', ['priority desc', 'run_at', 'id'], {
      where: "status = 'PENDING' AND concurrency_key IS NOT NULL AND parked_key IS NULL",
    });
    await createIndex(
      db,
      dialect,
      'idx_tasks_flow_parked',
      'tasks',
      ['parked_key', 'priority desc', 'run_at', 'id'],
      { where: "status = 'PENDING' AND parked_key IS NOT NULL" },
    );

    await table(db, dialect, 'flow_keys')
      .id()
      .text('key', { notNull: true, unique: true })
      .text('owner_id', { notNull: true })
      .text('scope', { notNull: true })
      .integer('max_running', { check: 'max_running > 0' })
      .integer('rate_limit', { check: 'rate_limit > 0' })
      .bigint('period_ms', { check: 'period_ms > 0' })
      .timestamp('wake_at')
      .timestamps()
      .create();
    await createIndex(db, dialect, 'idx_flow_keys_owner', 'flow_keys', ['owner_id']);

    await table(db, dialect, 'flow_slots')
      .id()
      .text('key', { notNull: true })
      .text('task_id', { notNull: true })
      .integer('lease_epoch', { notNull: true })
      .create();
    await createIndex(db, dialect, 'uq_flow_slots', 'flow_slots', ['key', 'task_id'], { unique: true });

    await table(db, dialect, 'flow_starts')
      .id()
      .text('key', { notNull: true })
      .timestamp('started_at', { notNull: true })
      .create();
    await createIndex(db, dialect, 'idx_flow_starts', 'flow_starts', ['key', 'started_at']);
  },
};
