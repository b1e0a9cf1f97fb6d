import { sql, type Kysely } from 'kysely';
import type { DialectAdapter } from '../dialect/dialect.js';
import { createIndex, oneOf, table, type Migration } from './ddl.js';

/** 0008's statuses and `refused`: a firing the loop guard stopped (see REFUSAL_REASONS). */
export const FIRING_STATUSES = ['started', 'skipped', 'failed', 'refused'] as const;

/**
 * Why a firing was refused: the event's causation chain reached SWARM_MAX_EVENT_DEPTH, or the
 * event was caused by a run of the very workflow it would start (and its trigger did not opt in).
 */
export const REFUSAL_REASONS = ['depth-limit', 'self-triggered'] as const;

/**
 * The causation chain of events, so an event trigger cannot loop without end.
 *
 * - `events.depth`: 0 for an event no run caused (the API, Swarm's agent events); an event a run
 *   caused (a step emitted it, or it is the run's own `run.*`) is one deeper than that run.
 *   `events.run_id` (0006) already names the causing run.
 * - `workflow_runs.event_depth`: the depth of the event that started the run; 0 for a run started
 *   by hand, a webhook or a schedule.
 * - `trigger_firings`: a `refused` status and its `reason`.
 */
export const eventCausation: Migration = {
  version: 10,
  name: 'event-causation',
  async up(db, dialect) {
    for (const name of ['events', 'workflow_runs'] as const) {
      await db.schema
        .alterTable(name)
        .addColumn(name === 'events' ? 'depth' : 'event_depth', dialect.type('integer'), (c) =>
          c.notNull().defaultTo(0),
        )
        .execute();
    }
    if (dialect.name === 'postgres') {
      await sql`ALTER TABLE trigger_firings DROP CONSTRAINT chk_trigger_firings_status`.execute(db);
      await sql`ALTER TABLE trigger_firings ADD CONSTRAINT chk_trigger_firings_status CHECK (${sql.raw(
        oneOf('status', FIRING_STATUSES),
      )})`.execute(db);
      await db.schema.alterTable('trigger_firings').addColumn('reason', dialect.type('text')).execute();
    } else {
      await rebuildFiringsOnSqlite(db, dialect);
    }
  },
};

/**
 * SQLite cannot change a CHECK in place: the table is made again under its own name (so its
 * constraint and index names stay those 0008 gave), its rows copied over, the old one dropped.
 * Nothing references trigger_firings, so no foreign key has to be switched off for this.
 */
async function rebuildFiringsOnSqlite(db: Kysely<unknown>, dialect: DialectAdapter): Promise<void> {
  await sql`ALTER TABLE trigger_firings RENAME TO trigger_firings_0008`.execute(db);
  // The indexes went with the renamed table; their names are needed again for the new one.
  await db.schema.dropIndex('idx_trigger_firings_trigger').execute();
  await db.schema.dropIndex('idx_trigger_firings_created').execute();
  await table(db, dialect, 'trigger_firings')
    .id()
    .owner()
    .text('trigger_id', { notNull: true, references: { table: 'triggers', onDelete: 'cascade' } })
    .text('fire_key', { notNull: true })
    .text('run_id')
    .text('status', { notNull: true, check: oneOf('status', FIRING_STATUSES) })
    .text('error')
    .timestamp('scheduled_for')
    .createdAt()
    .text('reason')
    .unique('fire_key', ['trigger_id', 'fire_key'])
    .create();
  const columns = sql.raw(
    [
      'id',
      'owner_id',
      'trigger_id',
      'fire_key',
      'run_id',
      'status',
      'error',
      'scheduled_for',
      'created_at',
    ].join(', '),
  );
  await sql`INSERT INTO trigger_firings (${columns}) SELECT ${columns} FROM trigger_firings_0008`.execute(db);
  await sql`DROP TABLE trigger_firings_0008`.execute(db);
  await createIndex(db, dialect, 'idx_trigger_firings_trigger', 'trigger_firings', [
    'trigger_id',
    'created_at desc',
  ]);
  await createIndex(db, dialect, 'idx_trigger_firings_created', 'trigger_firings', ['created_at']);
}
