import { sql, type Kysely } from 'kysely';
import type { DialectAdapter } from '../dialect/dialect.js';
import { createIndex, oneOf, table, type Migration } from './ddl.js';

/**
 * What a template's `orchestration_pattern` may name: the workflow patterns, including issue
 * 16's `selector` and `handoff`, and `consensus` for the consensus strategies (the strategy is
 * in the template's definition); null for a template that mixes several.
 */
export const TEMPLATE_PATTERNS = [
  'sequential',
  'concurrent',
  'hierarchical',
  'round_robin',
  'selector',
  'mesh',
  'handoff',
  'consensus',
] as const;

/**
 * Execution history, retention and workflow templates (issue 16, seed 002):
 *
 * - `execution_history` gets the run's workflow name and version, its times and a snapshot of
 *   the run as the API showed it (`run_snapshot`), so `GET /api/v1/runs/{id}` can answer from it
 *   after the run's rows are pruned; a unique index on `run_id` makes archiving a run twice
 *   (two server processes at once) a harmless no-op.
 * - `maintenance_leases`: one row per periodic job that must run once across all the processes
 *   sharing the database (the retention pruner). A process takes the job by an atomic
 *   conditional update of `due_at`; the others see it taken until the next interval.
 * - `workflow_templates`: the pattern CHECK widened (see TEMPLATE_PATTERNS), `parameters`
 *   (declared placeholders) added, and one name per owner. Nothing references the table, so
 *   SQLite rebuilds it without switching foreign keys off.
 */
export const historyRetentionTemplates: Migration = {
  version: 21,
  name: 'history-retention-templates',
  async up(db, dialect) {
    await db.schema
      .alterTable('execution_history')
      .addColumn('workflow_name', dialect.type('text'))
      .execute();
    await db.schema
      .alterTable('execution_history')
      .addColumn('workflow_version', dialect.type('text'))
      .execute();
    await db.schema
      .alterTable('execution_history')
      .addColumn('started_at', dialect.type('timestamp'))
      .execute();
    await db.schema
      .alterTable('execution_history')
      .addColumn('completed_at', dialect.type('timestamp'))
      .execute();
    await db.schema.alterTable('execution_history').addColumn('run_snapshot', dialect.type('json')).execute();
    // NULLs are distinct in a unique index on both dialects: rows without a run (imports) stay allowed.
    await createIndex(db, dialect, 'uq_execution_history_run', 'execution_history', ['run_id'], {
      unique: true,
    });
    // The archiver looks only at runs that ended recently (src/history/service.ts).
    await createIndex(db, dialect, 'idx_runs_completed', 'workflow_runs', ['completed_at']);
    await createIndex(db, dialect, 'idx_execution_history_owner_workflow', 'execution_history', [
      'owner_id',
      'workflow_name',
      'created_at desc',
    ]);

    await table(db, dialect, 'maintenance_leases')
      // The job's name ('retention'): one row per job.
      .id()
      .timestamp('due_at', { notNull: true, default: 'now' })
      .text('holder')
      .timestamp('claimed_at')
      .json('last_result')
      .create();

    if (dialect.name === 'postgres') {
      await sql`ALTER TABLE workflow_templates DROP CONSTRAINT chk_workflow_templates_orchestration_pattern`.execute(
        db,
      );
      await sql`ALTER TABLE workflow_templates ADD CONSTRAINT chk_workflow_templates_orchestration_pattern CHECK (${sql.raw(oneOf('orchestration_pattern', TEMPLATE_PATTERNS))})`.execute(
        db,
      );
      await db.schema
        .alterTable('workflow_templates')
        .addColumn('parameters', dialect.type('json'), (c) => c.notNull().defaultTo(dialect.jsonDefault([])))
        .execute();
    } else {
      await rebuildTemplatesOnSqlite(db, dialect);
    }
    await createIndex(db, dialect, 'uq_workflow_templates_name', 'workflow_templates', ['owner_id', 'name'], {
      unique: true,
    });
    await createIndex(db, dialect, 'idx_workflow_templates_public', 'workflow_templates', ['name'], {
      where: 'is_public = true',
    });
  },
};

async function rebuildTemplatesOnSqlite(db: Kysely<unknown>, dialect: DialectAdapter): Promise<void> {
  await sql`ALTER TABLE workflow_templates RENAME TO workflow_templates_0002`.execute(db);
  await table(db, dialect, 'workflow_templates')
    .id()
    .owner()
    .text('name', { notNull: true })
    .text('description')
    .text('orchestration_pattern', { check: oneOf('orchestration_pattern', TEMPLATE_PATTERNS) })
    .json('template_data', { notNull: true })
    .boolean('is_public', { notNull: true, default: false })
    .timestamps()
    .json('parameters', { notNull: true, default: { json: [] } })
    .create();
  const columns = sql.raw(
    [
      'id',
      'owner_id',
      'name',
      'description',
      'orchestration_pattern',
      'template_data',
      'is_public',
      'created_at',
      'updated_at',
    ].join(', '),
  );
  await sql`INSERT INTO workflow_templates (${columns}) SELECT ${columns} FROM workflow_templates_0002`.execute(
    db,
  );
  await sql`DROP TABLE workflow_templates_0002`.execute(db);
}
