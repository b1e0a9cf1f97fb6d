import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bootstrapAdmin } from '../../src/auth/index.js';
import {
  configureBlobs,
  isBlobReference,
  referenceSha,
  resolveStored,
  sweepBlobs,
} from '../../src/blobs/index.js';
import { Engine } from '../../src/engine/index.js';
import { claimTasks, completeTasks, failTask, type ClaimedTask } from '../../src/queue/index.js';
import { buildApp } from '../../src/server/index.js';
import { Store } from '../../src/storage/index.js';
import { withTaskHooks } from '../../src/tasks/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

const KIB = 1024;
const MIB = 1024 * KIB;
const HOUR = 3_600_000;

type Outcome = { output: unknown } | { error: string };
type StepJson = { task_id: string; status: string; output?: unknown; error?: string };
type ChainJson = { id: string; status: string; step_results: StepJson[]; result: unknown };

/** A chain's copies of its steps' outputs over the threshold are blobs it references (docs/payloads.md). */
describe.each(DIALECTS)("a task chain's large outputs on %s", (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let engine: Engine;
  let app: FastifyInstance;
  let key: string;

  beforeEach(async () => {
    configureBlobs({ inlineMax: KIB });
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    key = (await bootstrapAdmin(store, testDb.dir, 'http://x'))!.key;
    engine = new Engine(store);
    app = await buildApp({ store, engine, onRunStarted: () => {} });
  });
  afterEach(async () => {
    configureBlobs({});
    await app.close();
    await store.close();
    await testDb.drop();
  });

  function call(method: 'GET' | 'POST', url: string, payload?: unknown) {
    return app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${key}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  }
  async function startChain(steps: Record<string, unknown>[]): Promise<string> {
    const res = await call('POST', '/api/v1/task-chains', { steps });
    expect(res.statusCode, res.body).toBe(201);
    return (res.json() as ChainJson).id;
  }
  const getChain = async (id: string) => (await call('GET', `/api/v1/task-chains/${id}`)).json() as ChainJson;
  const listed = async (id: string) =>
    ((await call('GET', '/api/v1/task-chains')).json() as { items: ChainJson[] }).items.find(
      (c) => c.id === id,
    )!;

  /**
   * Claims and settles tasks through the real queue with the standalone tasks' hooks; the
   * behaviour gets each task's input whole, as the worker gives it to an agent.
   */
  async function drain(behaviour: (input: unknown) => Outcome): Promise<ClaimedTask[]> {
    const hooks = withTaskHooks(
      { onCompletedBatch: engine.onTasksCompleted, onFailed: engine.onTaskFailed },
      store.dialect,
    );
    const claimed: ClaimedTask[] = [];
    for (let round = 0; round < 20; round++) {
      const batch = await claimTasks(store.handle, { workerId: 'test', limit: 10, leaseMs: 60_000 });
      if (batch.length === 0) return claimed;
      claimed.push(...batch);
      for (const task of batch) {
        const outcome = behaviour(await resolveStored(store.handle.db, task.input));
        if ('output' in outcome)
          await completeTasks(
            store.handle,
            [{ id: task.id, leaseEpoch: task.leaseEpoch, output: outcome.output }],
            hooks,
          );
        else
          await failTask(
            store.handle,
            { id: task.id, leaseEpoch: task.leaseEpoch, error: outcome.error, retryable: false },
            hooks,
          );
      }
    }
    throw new Error('drain did not settle');
  }

  const chainRow = (id: string) =>
    store.handle.db
      .selectFrom('task_chains')
      .select(['step_results', 'final_result'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
  const refsOf = (source: 'task_chains' | 'tasks', ids: readonly string[]) =>
    store.handle.db
      .selectFrom('blob_refs')
      .select(['sha256', 'owner_id', 'source_id'])
      .where('source', '=', source)
      .where('source_id', 'in', [...ids])
      .execute();
  const shaOf = (stored: unknown) => {
    expect(isBlobReference(stored)).toBe(true);
    return referenceSha(stored as never);
  };
  const linkTo = (stored: unknown) => ({
    $blob: `sha256:${shaOf(stored)}`,
    size: expect.any(Number),
    url: `/api/v1/blobs/${shaOf(stored)}`,
  });

  const big = 'x'.repeat(100 * KIB);
  /** A value with its long strings cut to their length, so a failure does not print 100 KiB. */
  const brief = (value: unknown): unknown =>
    JSON.parse(
      JSON.stringify(value, (_key, v: unknown) =>
        typeof v === 'string' && v.length > 200 ? `<${v.length} × ${v[0]}>` : v,
      ),
    );

  it("references its tasks' blobs for large outputs, and every reader gets them whole", async () => {
    const id = await startChain([
      { agent: 'builtin/transform', input: { a: 1 } },
      { agent: 'builtin/transform', use_previous_output: true, input: { b: 2 } },
    ]);
    const seen: unknown[] = [];
    const tasks = await drain((input) => {
      seen.push(input);
      return { output: seen.length === 1 ? { text: big } : { ...(input as object), done: true } };
    });
    // The second step got the first one's whole output as its input.
    expect(brief(seen)).toEqual(brief([{ a: 1 }, { text: big, b: 2 }]));
    expect((seen[1] as { text: string }).text).toBe(big);

    const row = await chainRow(id);
    // Two outputs of 100 KiB are two references in a row of well under a KiB.
    expect(row.step_results.length).toBeLessThan(KIB);
    const stored = JSON.parse(row.step_results) as Record<string, StepJson>;
    const [first, second] = [shaOf(stored['0']!.output), shaOf(stored['1']!.output)];
    expect(shaOf(JSON.parse(row.final_result!))).toBe(second);
    const refs = await refsOf('task_chains', [id]);
    expect(refs.map((r) => r.sha256).sort()).toEqual([first, second].sort());
    const admin = (await store.handle.db.selectFrom('users').select('id').executeTakeFirstOrThrow()).id;
    expect(refs.every((r) => r.owner_id === admin)).toBe(true);
    // The same blobs as the tasks' outputs, not copies of them
    const taskRefs = await refsOf(
      'tasks',
      tasks.map((t) => t.id),
    );
    // (and the second task's input, a third blob)
    expect(taskRefs.map((r) => r.sha256)).toEqual(expect.arrayContaining([first, second]));

    const whole = { text: big, b: 2, done: true };
    const view = await getChain(id);
    expect(view.status).toBe('COMPLETED');
    expect(brief(view.result)).toEqual(brief(whole));
    expect(brief(view.step_results.map((s) => s.output))).toEqual(brief([{ text: big }, whole]));
    expect((view.result as { text: string }).text).toBe(big);
    expect((view.step_results[0]!.output as { text: string }).text).toBe(big);
    // A list links to them instead.
    const inList = await listed(id);
    expect(brief(inList.result)).toEqual(linkTo(stored['1']!.output));
    expect(brief(inList.step_results.map((s) => s.output))).toEqual([
      linkTo(stored['0']!.output),
      linkTo(stored['1']!.output),
    ]);

    // The sweep keeps a chain's references while its row is there, and drops them once it is gone.
    const later = new Date(Date.now() + 2 * HOUR);
    await sweepBlobs(store.handle, later);
    expect(await refsOf('task_chains', [id])).toHaveLength(2);
    await store.handle.db.deleteFrom('task_chains').where('id', '=', id).execute();
    expect((await sweepBlobs(store.handle, later)).references).toBe(2);
    expect(await refsOf('task_chains', [id])).toEqual([]);
  });

  it('keeps a large output of a chain that then fails, and links to one over 16 MiB', async () => {
    const huge = 'h'.repeat(17 * MIB);
    const id = await startChain([
      { agent: 'builtin/transform', input: {} },
      { agent: 'builtin/transform', use_previous_output: true },
    ]);
    await drain((input) =>
      input !== null && 'text' in (input as object) ? { error: 'no' } : { output: { text: huge } },
    );
    const row = await chainRow(id);
    const stored = JSON.parse(row.step_results) as Record<string, StepJson>;
    expect(stored['1']).toMatchObject({ status: 'FAILED', error: 'no' });
    const view = await getChain(id);
    expect(view.status).toBe('FAILED');
    expect(view.result).toBeNull();
    // Over 16 MiB a chain's view links to the output instead of carrying it.
    expect(brief(view.step_results[0]!.output)).toEqual(linkTo(stored['0']!.output));
    expect(await refsOf('task_chains', [id])).toHaveLength(1);
  }, 60_000);

  it('stores small outputs as before, and reads back values shaped like references as written', async () => {
    const lookalike = { $blob: `sha256:${'a'.repeat(64)}`, size: 1 };
    const id = await startChain([
      { agent: 'builtin/transform', input: { a: 1 } },
      { agent: 'builtin/transform', use_previous_output: true },
      { agent: 'builtin/transform', use_previous_output: true },
    ]);
    const seen: unknown[] = [];
    await drain((input) => {
      seen.push(input);
      return { output: seen.length === 2 ? lookalike : input };
    });
    expect(seen).toEqual([{ a: 1 }, { a: 1 }, lookalike]);
    const row = await chainRow(id);
    const stored = JSON.parse(row.step_results) as Record<string, StepJson>;
    expect(stored['0']!.output).toEqual({ a: 1 });
    expect(stored['1']!.output).toEqual({ '$blob:literal': lookalike });
    expect(JSON.parse(row.final_result!)).toEqual({ '$blob:literal': lookalike });
    expect(await refsOf('task_chains', [id])).toEqual([]);

    const view = await getChain(id);
    expect(view.result).toEqual(lookalike);
    expect(view.step_results.map((s) => s.output)).toEqual([{ a: 1 }, lookalike, lookalike]);
    const inList = await listed(id);
    expect(inList.result).toEqual(lookalike);
    expect(inList.step_results.map((s) => s.output)).toEqual([{ a: 1 }, lookalike, lookalike]);
  });
});
