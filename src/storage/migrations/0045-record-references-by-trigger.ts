import { sql } from 'kysely';
import type { Migration } from './ddl.js';

/**
 * The references this migration turns into triggers on PostgreSQL: the two tables a workflow step
 * appends to (its state changes and its metric), and what their foreign keys did on delete.
 */
export const RECORD_REFERENCES_BY_TRIGGER = [
  { child: 'execution_logs', column: 'owner_id', parent: 'users', onDelete: 'restrict' },
  { child: 'execution_logs', column: 'run_id', parent: 'workflow_runs', onDelete: 'cascade' },
  { child: 'execution_logs', column: 'task_id', parent: 'tasks', onDelete: 'cascade' },
  { child: 'metrics', column: 'owner_id', parent: 'users', onDelete: 'restrict' },
  { child: 'metrics', column: 'run_id', parent: 'workflow_runs', onDelete: 'cascade' },
  { child: 'metrics', column: 'task_id', parent: 'tasks', onDelete: 'cascade' },
] as const;

type Reference = (typeof RECORD_REFERENCES_BY_TRIGGER)[number];

const constraintOf = (ref: Reference) => `fk_${ref.child}_${ref.column}`;

/** The key's own error for a child row naming a missing parent (`value`: a plpgsql expression). */
const missingParent = (ref: Reference, value: string) =>
  `RAISE EXCEPTION 'insert or update on table "${ref.child}" violates foreign key constraint "${constraintOf(ref)}"'
      USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '${constraintOf(ref)}', TABLE = '${ref.child}',
        DETAIL = format('Key (${ref.column})=(%s) is not present in table "${ref.parent}".', ${value});`;

/** The key's own error for a parent row that children still name. */
const stillNamed = (ref: Reference) =>
  `RAISE EXCEPTION 'update or delete on table "${ref.parent}" violates foreign key constraint "${constraintOf(ref)}" on table "${ref.child}"'
      USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '${constraintOf(ref)}', TABLE = '${ref.parent}',
        DETAIL = 'Key is still referenced from table "${ref.child}".';`;

/**
 * Per statement: the distinct parents the new rows name, locked FOR KEY SHARE as the keys lock
 * them. `= ANY (array)` keeps the lookup on the parent's primary key whatever the planner thinks
 * of a transition table's size.
 */
const checkInserted = (child: string, refs: readonly Reference[]) =>
  `CREATE FUNCTION ${child}_check_new_references() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  wanted text[];
  locked integer;
  missing text;
BEGIN
${refs
  .map(
    (ref) => `  wanted := ARRAY(SELECT DISTINCT ${ref.column} FROM added WHERE ${ref.column} IS NOT NULL);
  PERFORM 1 FROM ${ref.parent} WHERE id = ANY (wanted) FOR KEY SHARE;
  GET DIAGNOSTICS locked = ROW_COUNT;
  IF locked < cardinality(wanted) THEN
    SELECT w INTO missing FROM unnest(wanted) AS w WHERE NOT EXISTS (SELECT 1 FROM ${ref.parent} WHERE id = w) LIMIT 1;
    ${missingParent(ref, 'missing')}
  END IF;`,
  )
  .join('\n')}
  RETURN NULL;
END $$`;

/** Per row, as the keys did: an UPDATE that points a row at another parent (never NULL-ing one). */
const checkChanged = (child: string, refs: readonly Reference[]) =>
  `CREATE FUNCTION ${child}_check_changed_references() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
${refs
  .map(
    (ref) => `  IF NEW.${ref.column} IS DISTINCT FROM OLD.${ref.column} AND NEW.${ref.column} IS NOT NULL THEN
    PERFORM 1 FROM ${ref.parent} WHERE id = NEW.${ref.column} FOR KEY SHARE;
    IF NOT FOUND THEN
      ${missingParent(ref, `NEW.${ref.column}`)}
    END IF;
  END IF;`,
  )
  .join('\n')}
  RETURN NULL;
END $$`;

const changedWhen = (refs: readonly Reference[]) =>
  refs
    .map((ref) => `(NEW.${ref.column} IS DISTINCT FROM OLD.${ref.column} AND NEW.${ref.column} IS NOT NULL)`)
    .join(' OR ');

/** Per statement on the parent: delete the children of deleted rows, or refuse while there are some. */
const followDeleted = (parent: string, refs: readonly Reference[]) =>
  `CREATE FUNCTION ${parent}_follow_deleted_records() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  ids text[];
BEGIN
  ids := ARRAY(SELECT id FROM gone);
  IF cardinality(ids) = 0 THEN
    RETURN NULL;
  END IF;
${refs
  .map((ref) =>
    ref.onDelete === 'cascade'
      ? `  DELETE FROM ${ref.child} WHERE ${ref.column} = ANY (ids);`
      : `  IF EXISTS (SELECT 1 FROM ${ref.child} WHERE ${ref.column} = ANY (ids)) THEN
    ${stillNamed(ref)}
  END IF;`,
  )
  .join('\n')}
  RETURN NULL;
END $$`;

/** Per row on the parent: a changed id would leave its children naming nothing (ON UPDATE NO ACTION). */
const refuseRenamed = (parent: string, refs: readonly Reference[]) =>
  `CREATE FUNCTION ${parent}_restrict_renamed_records() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
${refs
  .map(
    (ref) => `  IF EXISTS (SELECT 1 FROM ${ref.child} WHERE ${ref.column} = OLD.id) THEN
    ${stillNamed(ref)}
  END IF;`,
  )
  .join('\n')}
  RETURN NEW;
END $$`;

/**
 * On PostgreSQL, the foreign keys of `execution_logs` and `metrics` become triggers that check and
 * lock the same rows, once per statement instead of once per row, and that do on delete what the
 * keys did.
 *
 * Why: every workflow step writes two log rows and a metric, and each row's three keys queued
 * three after-row checks. Completing a batch of 1,000 steps (with its runs locked and its tasks
 * updated, as the engine does), those 3,000 rows took 70–100 ms with the keys, 31 ms with these
 * triggers and 26 ms with no check at all — 40–70 µs a step, against 150–200 µs that PostgreSQL
 * spends on a step in all (bench row (b)).
 *
 * Nothing of the keys is given up (0044 did the same for `tasks.owner_id`): a statement's new rows
 * have their distinct owners, runs and tasks locked FOR KEY SHARE, and one missing refuses the
 * statement with the key's error (23503, `fk_<table>_<column>`, the missing id in the detail); an
 * UPDATE pointing a row at another parent is checked per row; deleting runs or tasks deletes
 * their logs and metrics (`trg_<parent>_deleted_records`), deleting a user who has some is
 * refused (RESTRICT), and so is changing the id of a parent that has some. A delete racing an
 * insert waits on the insert's lock, then sees its rows.
 *
 * SQLite keeps its foreign keys: it checks one inline, with no queued event.
 */
export const recordReferencesByTrigger: Migration = {
  version: 45,
  name: 'record-references-by-trigger',
  async up(db, dialect) {
    if (dialect.name !== 'postgres') return;
    const statements: string[] = [];
    const children = [...new Set(RECORD_REFERENCES_BY_TRIGGER.map((ref) => ref.child))];
    for (const child of children) {
      const refs = RECORD_REFERENCES_BY_TRIGGER.filter((ref) => ref.child === child);
      for (const ref of refs) statements.push(`ALTER TABLE ${child} DROP CONSTRAINT ${constraintOf(ref)}`);
      statements.push(
        checkInserted(child, refs),
        `CREATE TRIGGER trg_${child}_references_inserted AFTER INSERT ON ${child}
REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION ${child}_check_new_references()`,
        checkChanged(child, refs),
        `CREATE TRIGGER trg_${child}_references_changed AFTER UPDATE OF ${refs.map((ref) => ref.column).join(', ')} ON ${child}
FOR EACH ROW WHEN (${changedWhen(refs)}) EXECUTE FUNCTION ${child}_check_changed_references()`,
      );
    }
    const parents = [...new Set(RECORD_REFERENCES_BY_TRIGGER.map((ref) => ref.parent))];
    for (const parent of parents) {
      const refs = RECORD_REFERENCES_BY_TRIGGER.filter((ref) => ref.parent === parent);
      statements.push(
        followDeleted(parent, refs),
        `CREATE TRIGGER trg_${parent}_deleted_records AFTER DELETE ON ${parent}
REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION ${parent}_follow_deleted_records()`,
        refuseRenamed(parent, refs),
        `CREATE TRIGGER trg_${parent}_renamed_records BEFORE UPDATE OF id ON ${parent}
FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION ${parent}_restrict_renamed_records()`,
      );
    }
    for (const statement of statements) await sql.raw(statement).execute(db);
  },
};
