import { createIndex, type Migration } from './ddl.js';

/**
 * Finding the tasks that wait on others. Completing a batch of standalone tasks first asks
 * whether their owners have any blocked task at all — almost never — and this index answers
 * that without reading the owner's other tasks (a backlog of 20,000 made every batch scan them).
 */
export const blockedTasks: Migration = {
  version: 9,
  name: 'blocked-tasks',
  async up(db, dialect) {
    await createIndex(db, dialect, 'idx_tasks_owner_blocked', 'tasks', ['owner_id', 'is_blocked']);
  },
};
