import { newId, openDatabase, Store, toDbJson, type DatabaseHandle } from '../../src/storage/index.js';
import { enqueueTasks, flowKey, type FlowLimit, type NewTask } from '../../src/queue/index.js';
import { createTestDatabase, type TestDatabase, type TestDialect } from '../helpers/databases.js';

/** One database per test file, emptied of tasks between tests. */
export interface QueueFixture {
  readonly testDb: TestDatabase;
  readonly store: Store;
  readonly handle: DatabaseHandle;
  readonly ownerId: string;
}

export async function openQueueFixture(dialect: TestDialect): Promise<QueueFixture> {
  const testDb = await createTestDatabase(dialect);
  const store = await Store.open(testDb.url);
  const user = await store.system.insertUserIfAbsent({ name: 'Q', email: 'q@example.com', role: 'member' });
  return { testDb, store, handle: store.handle, ownerId: user!.id };
}

export async function closeQueueFixture(fixture: QueueFixture | undefined): Promise<void> {
  if (fixture === undefined) return;
  await fixture.store.close();
  await fixture.testDb.drop();
}

/**
 * A handle as another process has on the fixture's database: a pool of its own on PostgreSQL;
 * on SQLite (one writer per file) the fixture's handle itself. Close it with closeOtherHandle.
 */
export async function openOtherHandle(fixture: QueueFixture): Promise<DatabaseHandle> {
  return fixture.testDb.dialect === 'postgres' ? openDatabase(fixture.testDb.url) : fixture.handle;
}

export async function closeOtherHandle(
  fixture: QueueFixture,
  handle: DatabaseHandle | undefined,
): Promise<void> {
  if (handle !== undefined && handle !== fixture.handle) await handle.close();
}

/** A concurrency limit of `maxRunning` on the owner's key `value`. */
export function ownerConcurrency(ownerId: string, value: string, maxRunning: number): FlowLimit {
  return { key: flowKey('concurrency', 'owner', { ownerId }, value), scope: 'owner', maxRunning };
}

export async function emptyQueue(fixture: QueueFixture): Promise<void> {
  await fixture.handle.db.deleteFrom('worker_assignments').execute();
  await fixture.handle.db.deleteFrom('tasks').execute();
}

/** A moment safely after every default `run_at` the test's tasks got at enqueue time. */
export function later(ms = 1000): Date {
  return new Date(Date.now() + ms);
}

export function at(base: Date, plusMs: number): Date {
  return new Date(base.getTime() + plusMs);
}

/** Enqueues standalone tasks of the fixture's owner; `input` defaults to `{ n: i }`. */
export async function enqueue(fixture: QueueFixture, tasks: Array<Partial<NewTask>>): Promise<string[]> {
  return enqueueTasks(
    fixture.handle.db,
    fixture.handle.dialect,
    tasks.map((task, i) => ({ ownerId: fixture.ownerId, taskType: 'test', input: { n: i }, ...task })),
  );
}

/**
 * Tasks a pull agent's filter (`only: { agentName: 'puller', capabilities: ['text:summarize',
 * …] }`) tells apart, in this order: named, by capability, another name, another capability,
 * a capability but another name, neither, named at low priority.
 */
export const PULL_FILTER_TASKS: readonly Partial<NewTask>[] = [
  { agentName: 'puller', priority: 5 },
  { capability: 'text:summarize', priority: 7 },
  { agentName: 'someone-else', priority: 9 },
  { capability: 'image:draw', priority: 9 },
  { agentName: 'someone-else', capability: 'text:summarize', priority: 9 },
  { priority: 9 },
  { agentName: 'puller', priority: 1 },
];

export async function taskRow(fixture: QueueFixture, id: string) {
  return fixture.handle.db.selectFrom('tasks').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

export async function assignmentsOf(fixture: QueueFixture, taskId: string) {
  return fixture.handle.db
    .selectFrom('worker_assignments')
    .select(['worker_id', 'lease_epoch', 'status', 'released_at', 'heartbeat_at'])
    .where('task_id', '=', taskId)
    .orderBy('lease_epoch')
    .execute();
}

/** A run to hang tasks on (tasks.run_id is a foreign key). */
export async function createRun(fixture: QueueFixture): Promise<string> {
  const workflowId = newId();
  const runId = newId();
  await fixture.handle.db
    .insertInto('workflows')
    .values({
      id: workflowId,
      owner_id: fixture.ownerId,
      name: `wf-${workflowId}`,
      version: '1.0.0',
      steps: toDbJson([]),
    })
    .execute();
  await fixture.handle.db
    .insertInto('workflow_runs')
    .values({ id: runId, owner_id: fixture.ownerId, workflow_id: workflowId, status: 'running' })
    .execute();
  return runId;
}
