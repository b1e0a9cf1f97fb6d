import { sql } from 'kysely';
import type { Migration } from './ddl.js';
import { createIndex } from './ddl.js';

/**
 * The keyed claim's lookups, made cheaper (docs/flow-control.md).
 *
 * - A keyed task counts against its first concurrency key from its own row: the claim counts the
 *   RUNNING tasks whose `concurrency_key` is the key, over `idx_tasks_flow_running`, instead of
 *   writing a `flow_slots` row at every start and pruning it at a later claim. Slots remain for
 *   a task's other concurrency keys (a step's key plus its agent's limit or its owner's quota),
 *   which no column of the task holds. The slots running tasks hold for their first key are
 *   deleted here: the task's row counts for them from now on, and a slot would count it twice.
 * - `flow_keys.slotted`: the key is some task's other key, so its running tasks include slots.
 *   Set when such a task is enqueued, never cleared; a claim looks at the slots of these keys
 *   only. Set here for the keys of today's slots and of unfinished tasks' other keys.
 * - A keyed task back on the queue (a retry, a sleep, a reclaimed lease, a release) is parked
 *   under its first key again, as after its enqueue, so the claim no longer looks for unparked
 *   keyed tasks: the ones waiting unparked now are parked here, and their index goes.
 */
export const flowRunningIndex: Migration = {
  version: 41,
  name: 'flow-running-index',
  async up(db, dialect) {
    await createIndex(db, dialect, 'idx_tasks_flow_running', 'tasks', ['concurrency_key'], {
      where: "status = 'RUNNING' AND concurrency_key IS NOT NULL",
    });
    await sql`DELETE FROM flow_slots WHERE EXISTS (
      SELECT 1 FROM tasks t WHERE t.id = flow_slots.task_id AND t.concurrency_key = flow_slots.key)`.execute(
      db,
    );

    await db.schema
      .alterTable('flow_keys')
      .addColumn('slotted', dialect.type('boolean'), (col) =>
        col.notNull().defaultTo(dialect.boolDefault(false)),
      )
      .execute();
    // A task's keys after its first, of the unfinished tasks (flow_keys is a JSON array).
    const otherKeys =
      dialect.name === 'postgres'
        ? sql`SELECT e.k FROM tasks t
            CROSS JOIN LATERAL jsonb_array_elements_text(t.flow_keys::jsonb) WITH ORDINALITY AS e(k, i)
            WHERE t.flow_keys IS NOT NULL AND t.status IN ('PENDING', 'ASSIGNED', 'RUNNING') AND e.i > 1`
        : sql`SELECT e.value FROM tasks t, json_each(t.flow_keys) e
            WHERE t.flow_keys IS NOT NULL AND t.status IN ('PENDING', 'ASSIGNED', 'RUNNING') AND e.key > 0`;
    await sql`UPDATE flow_keys SET slotted = ${dialect.boolDefault(true)}
      WHERE key IN (SELECT key FROM flow_slots) OR key IN (${otherKeys})`.execute(db);

    await sql`UPDATE tasks SET parked_key = concurrency_key
      WHERE status = 'PENDING' AND concurrency_key IS NOT NULL AND parked_key IS NULL`.execute(db);
    await db.schema.dropIndex('idx_tasks_flow_ready').execute();
  },
};
