import { sql } from 'kysely';
import type { Migration } from './ddl.js';

/** The reference this migration turns into triggers: `tasks.owner_id` → `users.id`. */
export const TASK_OWNER_REFERENCE = {
  table: 'users',
  column: 'owner_id',
  constraint: 'fk_tasks_owner_id',
} as const;

/** A trigger function on `users` refusing the change, as the key's RESTRICT did, while tasks match. */
const refuseWhenTasks = (name: string, tasksWhere: string, returns: 'NULL' | 'NEW') =>
  `CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM tasks WHERE ${tasksWhere}) THEN
    RAISE EXCEPTION 'update or delete on table "users" violates foreign key constraint "fk_tasks_owner_id" on table "tasks"'
      USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'fk_tasks_owner_id', TABLE = 'users',
        DETAIL = 'the user owns tasks';
  END IF;
  RETURN ${returns};
END $$`;
const VIOLATION = (detail: string) =>
  `RAISE EXCEPTION 'insert or update on table "tasks" violates foreign key constraint "fk_tasks_owner_id"'
      USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'fk_tasks_owner_id', TABLE = 'tasks', DETAIL = ${detail};`;

/**
 * On PostgreSQL, the foreign key of `tasks.owner_id` becomes triggers that check and lock the
 * same rows, once per statement instead of once per row.
 *
 * Why: PostgreSQL checks a foreign key with an after-row trigger, a `SELECT … FOR KEY SHARE` of
 * the owner for every inserted task, though a batch has one owner or a few. On a bulk enqueue
 * that check was a fifth of the time (20k tasks in batches of 1,000: 52k → 65k tasks/s with the
 * key dropped; 44–54k → 52–62k with these triggers instead; 0039 did the same, with no check
 * kept, for the references that are mostly NULL).
 *
 * What is kept, unlike 0039: the insert-time check. A statement's new tasks (a transition
 * table) have their distinct owners locked FOR KEY SHARE, as the key's check locks them, and
 * one missing refuses the statement with the key's own error (23503, `fk_tasks_owner_id`). An
 * update that changes a task's owner is checked the same way, per row (Swarm never does it;
 * the trigger fires only for an UPDATE naming the column). Deleting a user who owns tasks is
 * refused as ON DELETE RESTRICT did: a delete waits on the lock an enqueue holds, then sees its
 * tasks. The key was DEFERRABLE for `db copy`, which inserts users before tasks anyway.
 *
 * SQLite keeps its foreign key: it checks one inline, with no queued event.
 */
export const taskOwnerByTrigger: Migration = {
  version: 44,
  name: 'task-owner-by-trigger',
  async up(db, dialect) {
    if (dialect.name !== 'postgres') return;
    await sql`ALTER TABLE tasks DROP CONSTRAINT fk_tasks_owner_id`.execute(db);
    // SET search_path FROM CURRENT: `users` and `tasks` are the ones in this migration's schema.
    const statements = [
      `CREATE FUNCTION tasks_check_new_owners() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  wanted integer;
  locked integer;
  missing text;
BEGIN
  SELECT count(DISTINCT owner_id) INTO wanted FROM added;
  PERFORM 1 FROM users WHERE id IN (SELECT owner_id FROM added) FOR KEY SHARE;
  GET DIAGNOSTICS locked = ROW_COUNT;
  IF locked < wanted THEN
    SELECT owner_id INTO missing FROM added WHERE owner_id NOT IN (SELECT id FROM users) LIMIT 1;
    ${VIOLATION(`format('Key (owner_id)=(%s) is not present in table "users".', missing)`)}
  END IF;
  RETURN NULL;
END $$`,
      `CREATE TRIGGER trg_tasks_owner_inserted AFTER INSERT ON tasks
REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION tasks_check_new_owners()`,
      `CREATE FUNCTION tasks_check_changed_owner() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  PERFORM 1 FROM users WHERE id = NEW.owner_id FOR KEY SHARE;
  IF NOT FOUND THEN
    ${VIOLATION(`format('Key (owner_id)=(%s) is not present in table "users".', NEW.owner_id)`)}
  END IF;
  RETURN NULL;
END $$`,
      `CREATE TRIGGER trg_tasks_owner_changed AFTER UPDATE OF owner_id ON tasks
FOR EACH ROW WHEN (OLD.owner_id IS DISTINCT FROM NEW.owner_id) EXECUTE FUNCTION tasks_check_changed_owner()`,
      refuseWhenTasks('users_restrict_owned_tasks', 'owner_id IN (SELECT id FROM gone)', 'NULL'),
      `CREATE TRIGGER trg_users_deleted_tasks AFTER DELETE ON users
REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION users_restrict_owned_tasks()`,
      // A user's id changing would orphan their tasks as a delete would.
      refuseWhenTasks('users_restrict_renamed_owner', 'owner_id = OLD.id', 'NEW'),
      `CREATE TRIGGER trg_users_renamed_tasks BEFORE UPDATE OF id ON users
FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION users_restrict_renamed_owner()`,
    ];
    for (const statement of statements) await sql.raw(statement).execute(db);
  },
};
