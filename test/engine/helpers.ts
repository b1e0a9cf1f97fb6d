import { claimTasks, completeTasks, failTask, type ClaimedTask } from '../../src/queue/index.js';
import { Engine } from '../../src/engine/index.js';
import { Registry } from '../../src/registry/index.js';
import { Store, type Caller } from '../../src/storage/index.js';
import { createTestDatabase, type TestDialect, type TestDatabase } from '../helpers/databases.js';

export interface EngineFixture {
  readonly testDb: TestDatabase;
  readonly store: Store;
  readonly engine: Engine;
  readonly registry: Registry;
  readonly caller: Caller;
  close(): Promise<void>;
}

export async function engineFixture(dialect: TestDialect): Promise<EngineFixture> {
  const testDb = await createTestDatabase(dialect);
  const store = await Store.open(testDb.url);
  const user = (await store.system.insertUserIfAbsent({ name: 'U', email: 'u@example.com', role: 'admin' }))!;
  return {
    testDb,
    store,
    engine: new Engine(store),
    registry: new Registry(store),
    caller: { userId: user.id, role: user.role },
    async close() {
      await store.close();
      await testDb.drop();
    },
  };
}

/** What the test worker does with a task: an output, or a failure. */
export type Behaviour = (task: ClaimedTask) => { output: unknown } | { error: string; retryable?: boolean };

/** builtin/transform's behaviour: the output is the resolved input. */
export const transform: Behaviour = (task) => ({ output: task.input });

/**
 * A worker in the test's own hands: claims through the real queue and reports through the
 * real completion and failure paths, with the engine's hooks, until nothing is claimable.
 * `order` picks which claimed task finishes first (to complete fan-out items out of order).
 * `now` lets retries whose back-off lies in the future be claimed without waiting.
 */
export async function drain(
  fx: EngineFixture,
  behaviour: Behaviour = transform,
  options: { order?: (tasks: ClaimedTask[]) => ClaimedTask[]; now?: () => Date; limit?: number } = {},
): Promise<ClaimedTask[]> {
  const claimed: ClaimedTask[] = [];
  const hooks = { onCompletedBatch: fx.engine.onTasksCompleted, onFailed: fx.engine.onTaskFailed };
  for (let round = 0; round < 1000; round++) {
    const now = options.now?.() ?? new Date();
    const batch = await claimTasks(fx.store.handle, {
      workerId: 'test-worker',
      limit: options.limit ?? 100,
      leaseMs: 60_000,
      now,
    });
    if (batch.length === 0) return claimed;
    claimed.push(...batch);
    for (const task of options.order?.(batch) ?? batch) {
      const result = behaviour(task);
      if ('output' in result) {
        await completeTasks(
          fx.store.handle,
          [{ id: task.id, leaseEpoch: task.leaseEpoch, output: result.output }],
          hooks,
          now,
        );
      } else {
        await failTask(
          fx.store.handle,
          {
            id: task.id,
            leaseEpoch: task.leaseEpoch,
            error: result.error,
            retryable: result.retryable ?? true,
          },
          hooks,
          { now, random: () => 1 },
        );
      }
    }
  }
  throw new Error('drain did not settle in 1000 rounds');
}
