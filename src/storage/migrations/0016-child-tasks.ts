import { sql } from 'kysely';
import { createIndex, type Migration } from './ddl.js';

/**
 * Tasks a task waits on: an agent loop's tool calls (src/runtimes/llm/loop.ts) run as child
 * tasks of the step's task, which sleeps meanwhile holding no worker. `parent_task_id` names the
 * task to wake when the last of them ends; deleting the parent (its run) deletes them.
 * Deferrable like every other foreign key, so bulk copies can defer it.
 */
export const childTasks: Migration = {
  version: 16,
  name: 'child-tasks',
  async up(db, dialect) {
    await sql`ALTER TABLE tasks ADD COLUMN parent_task_id ${dialect.type('text')} CONSTRAINT fk_tasks_parent_task_id REFERENCES tasks (id) ON DELETE CASCADE DEFERRABLE INITIALLY IMMEDIATE`.execute(
      db,
    );
    await createIndex(db, dialect, 'idx_tasks_parent', 'tasks', ['parent_task_id'], {
      where: 'parent_task_id IS NOT NULL',
    });
  },
};
