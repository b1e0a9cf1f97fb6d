import { sql, type Kysely } from 'kysely';
import { between, createIndex, oneOf, table, type Migration } from './ddl.js';

/** How a consensus step decides (consensus_results.consensus_type). */
export const CONSENSUS_TYPES = ['voting', 'weighted', 'judge_based', 'mixture_of_agents'] as const;

/** Why an agent's trust score moved (trust_records.event_type). */
export const TRUST_EVENT_TYPES = [
  'task_completed',
  'task_failed',
  'task_timeout',
  'manual_adjustment',
  'consensus_agreed',
  'consensus_dissented',
] as const;

/**
 * Consensus, decided and recorded (issue 16):
 *
 * - `consensus_results.consensus_type` also accepts `weighted` (votes weighted by trust), and
 *   `strategy_details` (JSON) keeps how the decision was reached: the tally or weights, the
 *   quorum and whether it was reached, a judge's choice and reasoning.
 * - `trust_records.event_type` also accepts `consensus_agreed` / `consensus_dissented`: a
 *   member's trust moves with whether its result agreed with the decision.
 *
 * SQLite cannot change a CHECK in place: both tables are rebuilt (no table references either,
 * so foreign keys can stay on); PostgreSQL replaces the constraints.
 */
export const consensus: Migration = {
  version: 19,
  name: 'consensus',
  async up(db, dialect) {
    if (dialect.name === 'postgres') {
      for (const [name, column, values] of [
        ['consensus_results', 'consensus_type', CONSENSUS_TYPES],
        ['trust_records', 'event_type', TRUST_EVENT_TYPES],
      ] as const) {
        await sql`ALTER TABLE ${sql.table(name)} DROP CONSTRAINT ${sql.ref(`chk_${name}_${column}`)}`.execute(
          db,
        );
        await sql`ALTER TABLE ${sql.table(name)} ADD CONSTRAINT ${sql.ref(`chk_${name}_${column}`)} CHECK (${sql.raw(oneOf(column, values))})`.execute(
          db,
        );
      }
      await db.schema
        .alterTable('consensus_results')
        .addColumn('strategy_details', dialect.type('json'))
        .execute();
      return;
    }
    await rebuild(db, 'consensus_results', ['idx_consensus_results_run'], async () => {
      await table(db, dialect, 'consensus_results')
        .id()
        .owner()
        .text('run_id', { references: { table: 'workflow_runs', onDelete: 'cascade' } })
        .text('task_id', { references: { table: 'tasks', onDelete: 'cascade' } })
        .text('step_id')
        .text('consensus_type', { notNull: true, check: oneOf('consensus_type', CONSENSUS_TYPES) })
        .json('agent_results', { notNull: true })
        .json('final_result')
        .real('confidence', { check: between('confidence', 0, 1) })
        .createdAt()
        .json('strategy_details')
        .create();
      await createIndex(db, dialect, 'idx_consensus_results_run', 'consensus_results', ['run_id']);
    });
    await rebuild(db, 'trust_records', ['idx_trust_records_agent_date'], async () => {
      await table(db, dialect, 'trust_records')
        .id()
        .owner()
        .text('agent_id', { notNull: true, references: { table: 'agents', onDelete: 'cascade' } })
        .text('event_type', { notNull: true, check: oneOf('event_type', TRUST_EVENT_TYPES) })
        .text('task_id')
        .real('trust_delta', { notNull: true })
        .real('trust_score_before', { notNull: true, check: between('trust_score_before', 0, 1) })
        .real('trust_score_after', { notNull: true, check: between('trust_score_after', 0, 1) })
        .text('reason')
        .createdAt()
        .create();
      await createIndex(db, dialect, 'idx_trust_records_agent_date', 'trust_records', [
        'agent_id',
        'created_at desc',
      ]);
    });
  },
};

/**
 * SQLite: the table renamed away (its indexes dropped first, their names are reused), made
 * again by `create` with the new constraints, its rows copied, the old one dropped. The columns
 * copied are the old table's, so a column the new one adds starts null.
 */
async function rebuild(
  db: Kysely<unknown>,
  name: string,
  indexes: readonly string[],
  create: () => Promise<void>,
): Promise<void> {
  for (const index of indexes) await sql`DROP INDEX ${sql.ref(index)}`.execute(db);
  const old = `${name}_old`;
  await sql`ALTER TABLE ${sql.table(name)} RENAME TO ${sql.table(old)}`.execute(db);
  const info = await sql<{ name: string }>`SELECT name FROM pragma_table_info(${old})`.execute(db);
  const columns = sql.join(info.rows.map((c) => sql.ref(c.name)));
  await create();
  await sql`INSERT INTO ${sql.table(name)} (${columns}) SELECT ${columns} FROM ${sql.table(old)}`.execute(db);
  await sql`DROP TABLE ${sql.table(old)}`.execute(db);
}
