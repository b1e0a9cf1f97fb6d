import { sql } from 'kysely';
import type { Migration } from './ddl.js';

/**
 * What deleting a row does to the tasks that name it, for the references of `tasks` a task is
 * usually inserted without: the parent table's column, what its foreign key did on delete.
 */
export const TASK_REFERENCES_BY_TRIGGER = [
  { table: 'workflow_runs', column: 'run_id', onDelete: 'cascade' },
  { table: 'tasks', column: 'parent_task_id', onDelete: 'cascade' },
  { table: 'agents', column: 'agent_id', onDelete: 'set null' },
  { table: 'agents', column: 'assigned_agent_id', onDelete: 'set null' },
  { table: 'task_chains', column: 'chain_id', onDelete: 'set null' },
  { table: 'task_templates', column: 'template_id', onDelete: 'set null' },
  { table: 'scheduled_tasks', column: 'scheduled_task_id', onDelete: 'set null' },
] as const;

/**
 * On PostgreSQL, the foreign keys of `tasks` that are NULL in most tasks become triggers on the
 * tables they point at, which do on delete what the keys did (delete the tasks, or clear the
 * column).
 *
 * Why: PostgreSQL checks a foreign key with an after-row trigger that it queues for every
 * inserted row, NULL or not. A bulk enqueue of 1,000 tasks queued 8,000 such events; the seven
 * keys that are NULL in a standalone task cost 3–4 µs of the 15–20 µs PostgreSQL spends per
 * inserted task (EXPLAIN ANALYZE, `Trigger for constraint fk_tasks_*`). A delete of the parent
 * is rare (retention, a template or a schedule removed), so its cost moves there: one statement
 * per deleted batch, over the rows the delete removed (a transition table).
 *
 * What is given up: the insert-time check that the referenced row exists. Swarm writes these
 * columns only from rows it has just read in the same transaction; `owner_id`, the reference
 * that places a task in its owner's hands, keeps its foreign key.
 *
 * SQLite keeps its foreign keys: it checks one inline, with no queued event, and skips a NULL.
 */
export const taskReferencesByTrigger: Migration = {
  version: 39,
  name: 'task-references-by-trigger',
  async up(db, dialect) {
    if (dialect.name !== 'postgres') return;
    for (const { column } of TASK_REFERENCES_BY_TRIGGER)
      await sql`ALTER TABLE tasks DROP CONSTRAINT ${sql.ref(`fk_tasks_${column}`)}`.execute(db);
    const parents = [...new Set(TASK_REFERENCES_BY_TRIGGER.map((ref) => ref.table))];
    for (const parent of parents) {
      const actions = TASK_REFERENCES_BY_TRIGGER.filter((ref) => ref.table === parent).map((ref) =>
        ref.onDelete === 'cascade'
          ? `DELETE FROM tasks WHERE ${ref.column} IN (SELECT id FROM gone);`
          : `UPDATE tasks SET ${ref.column} = NULL WHERE ${ref.column} IN (SELECT id FROM gone);`,
      );
      const fn = `tasks_follow_deleted_${parent}`;
      // A statement trigger fires even when its statement deleted nothing; the guard ends the
      // recursion of tasks deleting their children, whose delete fires the trigger again.
      // SET search_path FROM CURRENT: `tasks` is the one in the schema this migration ran in.
      await sql
        .raw(
          `CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM gone) THEN
    ${actions.join('\n    ')}
  END IF;
  RETURN NULL;
END $$`,
        )
        .execute(db);
      await sql
        .raw(
          `CREATE TRIGGER trg_${parent}_deleted_tasks AFTER DELETE ON ${parent}
REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()`,
        )
        .execute(db);
    }
  },
};
