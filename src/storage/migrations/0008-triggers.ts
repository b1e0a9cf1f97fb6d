import type { LogicalType } from '../dialect/dialect.js';
import { createIndex, oneOf, table, type Migration } from './ddl.js';

export const FIRING_STATUSES = ['started', 'skipped', 'failed'] as const;

/**
 * Triggers that fire on their own, and outgoing webhooks.
 *
 * - A workflow has one trigger row however many versions it has (`workflow_name`); a rotated
 *   webhook secret stays valid until `webhook_secret_previous_until`, so senders can move over.
 * - `trigger_firings` is what makes firing exactly-once: one row per (trigger, fire key) — the
 *   idempotency key of a webhook, the tick of a schedule, the id of an event — written in the
 *   transaction that starts the run, so a repeat finds the first run instead of starting another.
 * - Events remember failed dispatch attempts; scheduled tasks get the misfire policy of schedules.
 * - `webhook_delivery_attempts` keeps every attempt of an outgoing delivery (status, latency, error).
 */
export const triggers: Migration = {
  version: 8,
  name: 'triggers',
  async up(db, dialect) {
    const addColumns = async (name: string, columns: [string, LogicalType, (number | string)?][]) => {
      for (const [column, type, fallback] of columns) {
        await db.schema
          .alterTable(name)
          .addColumn(column, dialect.type(type), (c) =>
            fallback === undefined ? c : c.notNull().defaultTo(fallback),
          )
          .execute();
      }
    };
    await addColumns('triggers', [
      ['workflow_name', 'text'],
      ['webhook_secret_previous', 'text'],
      ['webhook_secret_previous_until', 'timestamp'],
      ['catch_up_limit', 'integer', 10],
    ]);
    await createIndex(db, dialect, 'uq_triggers_workflow_name', 'triggers', ['owner_id', 'workflow_name'], {
      unique: true,
    });
    await addColumns('scheduled_tasks', [
      ['misfire_policy', 'text', 'skip'],
      ['catch_up_limit', 'integer', 10],
    ]);
    await addColumns('events', [
      ['attempts', 'integer', 0],
      ['last_error', 'text'],
    ]);
    // Pruning reads the oldest dispatched events (every run's end is one).
    await createIndex(db, dialect, 'idx_events_created', 'events', ['created_at']);

    await table(db, dialect, 'trigger_firings')
      .id()
      .owner()
      .text('trigger_id', { notNull: true, references: { table: 'triggers', onDelete: 'cascade' } })
      .text('fire_key', { notNull: true })
      // Not a foreign key: written in the same statement batch as the run, before it (a run
      // purged later leaves its firing as the record that the key fired).
      .text('run_id')
      .text('status', { notNull: true, check: oneOf('status', FIRING_STATUSES) })
      .text('error')
      .timestamp('scheduled_for')
      .createdAt()
      .unique('fire_key', ['trigger_id', 'fire_key'])
      .create();
    await createIndex(db, dialect, 'idx_trigger_firings_trigger', 'trigger_firings', [
      'trigger_id',
      'created_at desc',
    ]);
    await createIndex(db, dialect, 'idx_trigger_firings_created', 'trigger_firings', ['created_at']);

    await table(db, dialect, 'webhook_delivery_attempts')
      .id()
      .owner()
      .text('delivery_id', {
        notNull: true,
        references: { table: 'webhook_deliveries', onDelete: 'cascade' },
      })
      .integer('attempt', { notNull: true })
      .integer('status_code')
      .integer('latency_ms', { notNull: true })
      .text('error')
      .createdAt()
      .create();
    await createIndex(db, dialect, 'idx_webhook_delivery_attempts_delivery', 'webhook_delivery_attempts', [
      'delivery_id',
      'attempt',
    ]);
  },
};
