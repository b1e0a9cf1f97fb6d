import { createIndex, oneOf, table, type Migration } from './ddl.js';

export const EVENT_STATUSES = ['pending', 'dispatched', 'failed'] as const;

/**
 * Events `{source, type, payload}` emitted by agents (builtin/emit_event) or by Swarm itself.
 * They are written here first and dispatched to subscribed event triggers afterwards, so an
 * event survives a crash between being emitted and starting the workflows it should start.
 */
export const events: Migration = {
  version: 6,
  name: 'events',
  async up(db, dialect) {
    await table(db, dialect, 'events')
      .id()
      .owner()
      .text('source', { notNull: true })
      .text('type', { notNull: true })
      .json('payload', { notNull: true })
      .text('run_id', { references: { table: 'workflow_runs', onDelete: 'set null' } })
      // Not a foreign key: an event outlives the task that emitted it (tasks are pruned).
      .text('task_id')
      // A retried attempt of the same emitting task publishes the same key: one event, not two.
      .text('idempotency_key')
      .text('status', { notNull: true, default: 'pending', check: oneOf('status', EVENT_STATUSES) })
      .timestamp('dispatched_at')
      .createdAt()
      .create();
    // The dispatcher's queue: oldest pending first, and nothing else in the index.
    await createIndex(db, dialect, 'idx_events_pending', 'events', ['status', 'created_at'], {
      where: "status = 'pending'",
    });
    // Matching events to the event triggers subscribed to (source, type).
    await createIndex(db, dialect, 'idx_events_source_type', 'events', ['source', 'type']);
    // NULL keys are distinct on both dialects, so only keyed events are deduplicated.
    await createIndex(db, dialect, 'uq_events_idempotency', 'events', ['owner_id', 'idempotency_key'], {
      unique: true,
    });
  },
};
