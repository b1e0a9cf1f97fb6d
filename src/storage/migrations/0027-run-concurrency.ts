import { createIndex, table, type Migration } from './ddl.js';
import { REFUSAL_REASONS } from './0010-event-causation.js';

/**
 * 0010's refusal reasons and `throttled`: a trigger's `throttle` dropped the firing. The column
 * has no CHECK (0010 added it bare), so the new reason needs no rebuild.
 */
export const FIRING_REFUSAL_REASONS = [...REFUSAL_REASONS, 'throttled'] as const;

/**
 * Workflow-level flow control (issue 18, docs/run-concurrency.md).
 *
 * - `workflow_runs.concurrency_key` / `concurrency_limit`: the value of the workflow's
 *   `concurrency.key` for this run and the limit it ran under; null for a workflow without
 *   `concurrency`. A run waiting for a slot is `pending` with a key; the index serves both the
 *   count of a key's running runs and the FIFO of its pending ones.
 * - `run_concurrency_keys`: one row per (owner, workflow, key value), locked (FOR UPDATE on
 *   PostgreSQL) by whoever starts or ends a run of that key, so several processes admitting
 *   runs of one key take turns and never exceed the limit.
 * - `trigger_debounces`: a debounced trigger's pending firing per key: the last event or body
 *   and when it fires. Stored, so a restart fires it once; deleted in the transaction that fires.
 * - `trigger_firings.flow_key`: the throttle key of a firing; throttling counts started firings
 *   per (trigger, key) within the period.
 */
export const runConcurrency: Migration = {
  version: 27,
  name: 'run-concurrency',
  async up(db, dialect) {
    await db.schema.alterTable('workflow_runs').addColumn('concurrency_key', dialect.type('text')).execute();
    await db.schema
      .alterTable('workflow_runs')
      .addColumn('concurrency_limit', dialect.type('integer'))
      .execute();
    await createIndex(
      db,
      dialect,
      'idx_runs_concurrency',
      'workflow_runs',
      ['owner_id', 'workflow_name', 'concurrency_key', 'status', 'created_at'],
      { where: 'concurrency_key IS NOT NULL' },
    );
    await table(db, dialect, 'run_concurrency_keys')
      .id()
      .owner()
      .text('workflow_name', { notNull: true })
      .text('concurrency_key', { notNull: true })
      .createdAt()
      .unique('key', ['owner_id', 'workflow_name', 'concurrency_key'])
      .create();
    await table(db, dialect, 'trigger_debounces')
      .id()
      .owner()
      .text('trigger_id', { notNull: true, references: { table: 'triggers', onDelete: 'cascade' } })
      .text('debounce_key', { notNull: true })
      .json('trigger_data', { notNull: true })
      .integer('event_depth', { notNull: true, default: 0 })
      .integer('coalesced', { notNull: true, default: 1 })
      .timestamp('fire_at', { notNull: true })
      .timestamps()
      .unique('key', ['trigger_id', 'debounce_key'])
      .create();
    await createIndex(db, dialect, 'idx_trigger_debounces_due', 'trigger_debounces', ['fire_at']);
    await db.schema.alterTable('trigger_firings').addColumn('flow_key', dialect.type('text')).execute();
    await createIndex(db, dialect, 'idx_trigger_firings_flow', 'trigger_firings', [
      'trigger_id',
      'flow_key',
      'created_at',
    ]);
  },
};
