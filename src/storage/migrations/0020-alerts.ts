import { sql, type Kysely } from 'kysely';
import type { DialectAdapter } from '../dialect/dialect.js';
import { createIndex, oneOf, table, type Migration } from './ddl.js';

/** What raised an alert (seed 002, plus `budget_exceeded`). */
export const ALERT_TYPES = [
  'agent_failure',
  'task_timeout',
  'system_error',
  'task_completion',
  'performance_degradation',
  'budget_exceeded',
] as const;
export const ALERT_SEVERITIES = ['info', 'warning', 'critical'] as const;

/** The alerts' columns after 0005, in order: copied as they are when SQLite rebuilds the table. */
const COLUMNS_0005 = [
  'id',
  'owner_id',
  'alert_type',
  'severity',
  'title',
  'message',
  'related_agent_id',
  'related_task_id',
  'related_run_id',
  'resolved',
  'resolved_at',
  'created_at',
];

/**
 * Alerts raised by Swarm itself (src/alerts/, issue 16):
 *
 * - `alerts.alert_type` also accepts `budget_exceeded`;
 * - `cause` names what an alert is about (`agent_failure:<agent>@<version>`), and the partial
 *   unique index `uq_alerts_open_cause` lets an owner have at most ONE open alert per cause, so
 *   a repeat is an atomic upsert that increments `count` (and moves `last_seen_at`), never a
 *   second row, whichever process raises it;
 * - `resolved_by`: `auto` (the cause cleared) or the id of the user who resolved it;
 * - `alert_evaluations`: one row per periodic evaluation (`tasks`, `performance`): the time up to
 *   which task outcomes were looked at, and a lease (`claimed_by`, `claimed_until`) so one
 *   process at a time evaluates, whichever number of servers share the database;
 * - tasks by completion time, and an agent's tasks by completion time (routed, or named): what
 *   the evaluator reads. Partial: a task enters them once, when it ends.
 *
 * SQLite cannot change a CHECK in place: the table (referenced by none) is rebuilt.
 */
export const alerts: Migration = {
  version: 20,
  name: 'alerts',
  async up(db, dialect) {
    if (dialect.name === 'postgres') {
      await sql`ALTER TABLE alerts DROP CONSTRAINT chk_alerts_alert_type`.execute(db);
      await sql`ALTER TABLE alerts ADD CONSTRAINT chk_alerts_alert_type CHECK (${sql.raw(oneOf('alert_type', ALERT_TYPES))})`.execute(
        db,
      );
      // Rows from before have no cause: each its own (the id), so none collides.
      await sql`ALTER TABLE alerts ADD COLUMN cause ${dialect.type('text')}`.execute(db);
      await sql`UPDATE alerts SET cause = alert_type || ':' || id`.execute(db);
      await sql`ALTER TABLE alerts ALTER COLUMN cause SET NOT NULL`.execute(db);
      await db.schema
        .alterTable('alerts')
        .addColumn('count', dialect.type('integer'), (c) => c.notNull().defaultTo(1))
        .execute();
      await sql`ALTER TABLE alerts ADD CONSTRAINT chk_alerts_count CHECK (count >= 1)`.execute(db);
      await db.schema
        .alterTable('alerts')
        .addColumn('last_seen_at', dialect.type('timestamp'), (c) =>
          c.notNull().defaultTo(dialect.nowDefault),
        )
        .execute();
      await db.schema
        .alterTable('alerts')
        .addColumn('updated_at', dialect.type('timestamp'), (c) => c.notNull().defaultTo(dialect.nowDefault))
        .execute();
      await db.schema.alterTable('alerts').addColumn('resolved_by', dialect.type('text')).execute();
      await db.schema
        .alterTable('alerts')
        .addColumn('metadata', dialect.type('json'), (c) => c.notNull().defaultTo(dialect.jsonDefault({})))
        .execute();
    } else {
      await rebuildAlertsOnSqlite(db, dialect);
    }
    await createIndex(db, dialect, 'uq_alerts_open_cause', 'alerts', ['owner_id', 'cause'], {
      unique: true,
      where: 'resolved = false',
    });
    await createIndex(db, dialect, 'idx_alerts_owner_created', 'alerts', ['owner_id', 'created_at desc']);

    await table(db, dialect, 'alert_evaluations')
      // The evaluation: `tasks` or `performance`.
      .id()
      .timestamp('watermark', { notNull: true })
      .text('claimed_by')
      .timestamp('claimed_until')
      .timestamp('updated_at', { notNull: true, default: 'now' })
      .create();

    await createIndex(db, dialect, 'idx_tasks_completed', 'tasks', ['completed_at'], {
      where: 'completed_at IS NOT NULL',
    });
    // A task's agent is the one routing assigned, else the one it names (src/routing/outcomes.ts).
    await createIndex(
      db,
      dialect,
      'idx_tasks_agent_completed',
      'tasks',
      ['assigned_agent_id', 'completed_at'],
      { where: 'completed_at IS NOT NULL AND assigned_agent_id IS NOT NULL' },
    );
    await createIndex(
      db,
      dialect,
      'idx_tasks_named_agent_completed',
      'tasks',
      ['owner_id', 'agent_name', 'agent_version', 'completed_at'],
      { where: 'completed_at IS NOT NULL AND assigned_agent_id IS NULL AND agent_name IS NOT NULL' },
    );
  },
};

async function rebuildAlertsOnSqlite(db: Kysely<unknown>, dialect: DialectAdapter): Promise<void> {
  await sql`ALTER TABLE alerts RENAME TO alerts_0005`.execute(db);
  await table(db, dialect, 'alerts')
    .id()
    .owner()
    .text('alert_type', { notNull: true, check: oneOf('alert_type', ALERT_TYPES) })
    .text('severity', { notNull: true, default: 'info', check: oneOf('severity', ALERT_SEVERITIES) })
    .text('title', { notNull: true })
    .text('message')
    .text('related_agent_id')
    .text('related_task_id')
    .text('related_run_id')
    .boolean('resolved', { notNull: true, default: false })
    .timestamp('resolved_at')
    .createdAt()
    .text('cause', { notNull: true })
    .integer('count', { notNull: true, default: 1, check: 'count >= 1' })
    .timestamp('last_seen_at', { notNull: true, default: 'now' })
    .timestamp('updated_at', { notNull: true, default: 'now' })
    .text('resolved_by')
    .json('metadata', { notNull: true, default: { json: {} } })
    .create();
  const columns = sql.raw(COLUMNS_0005.join(', '));
  await sql`INSERT INTO alerts (${columns}, cause, last_seen_at, updated_at)
    SELECT ${columns}, alert_type || ':' || id, created_at, created_at FROM alerts_0005`.execute(db);
  // Its index goes with it, freeing the name for the new table's.
  await sql`DROP TABLE alerts_0005`.execute(db);
  await createIndex(db, dialect, 'idx_alerts_open', 'alerts', ['owner_id', 'created_at desc'], {
    where: 'resolved = false',
  });
}
