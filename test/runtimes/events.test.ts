import type { Kysely, Selectable } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatabaseEventSink } from '../../src/runtimes/index.js';
import type { EventsTable } from '../../src/storage/schema-types.js';
import { fromDbJson, newId, Store, toDbJson } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { expectRuntimeError, expectValidOutput, invocation, makeContext, runtime } from './helpers.js';

describe.each(DIALECTS)('builtin/emit_event on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let ownerId: string;
  let runId: string;
  let db: Kysely<Record<string, Record<string, unknown>>>;

  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url); // migrates, 0006-events included
    ownerId = (await store.system.insertUserIfAbsent({ name: 'E', email: 'e@example.com', role: 'member' }))!
      .id;
    db = store.handle.db as unknown as typeof db;
    const workflowId = newId();
    await db
      .insertInto('workflows')
      .values({ id: workflowId, owner_id: ownerId, name: 'wf', version: '1.0.0', steps: toDbJson([]) })
      .execute();
    runId = newId();
    await db
      .insertInto('workflow_runs')
      .values({ id: runId, owner_id: ownerId, workflow_id: workflowId })
      .execute();
  });

  afterAll(async () => {
    await store?.close();
    await testDb?.drop();
  });

  const events = async () =>
    (await db
      .selectFrom('events')
      .selectAll()
      .orderBy('created_at')
      .execute()) as unknown as Selectable<EventsTable>[];

  it('writes a pending events row and outputs its id', async () => {
    const context = makeContext({ events: new DatabaseEventSink(store) });
    const output = await runtime().execute(
      invocation(
        'emit_event',
        { source: 'orders', type: 'order.created', payload: { id: 42, items: ['a', 'ü'] } },
        { ownerId, runId, taskId: 'task-a' },
      ),
      context,
    );
    const { event_id } = expectValidOutput<{ event_id: string }>('emit_event', output);
    const rows = await events();
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    expect(row).toMatchObject({
      id: event_id,
      owner_id: ownerId,
      source: 'orders',
      type: 'order.created',
      run_id: runId,
      task_id: 'task-a',
      status: 'pending',
      dispatched_at: null,
    });
    // JSON comes back as text on both dialects (see storage/values.ts).
    expect(fromDbJson(row.payload)).toEqual({ id: 42, items: ['a', 'ü'] });
    expect(row.created_at).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('a retried attempt of the same task finds its event instead of emitting it twice', async () => {
    const sink = new DatabaseEventSink(store.handle);
    const input = { source: 'orders', type: 'order.paid' };
    const first = await runtime().execute(
      invocation('emit_event', input, { ownerId, taskId: 'task-b' }),
      makeContext({ events: sink }),
    );
    const retry = await runtime().execute(
      invocation('emit_event', input, { ownerId, taskId: 'task-b', attempt: 2 }),
      makeContext({ events: sink }),
    );
    expect(retry).toEqual(first);
    const rows = (await events()).filter((r) => r.task_id === 'task-b');
    expect(rows).toHaveLength(1);
    expect(rows[0]!.payload).toBe('null'); // no payload given: JSON null, not SQL NULL
  });

  it('publishes events without a key as separate rows, and clears run_id when the run goes', async () => {
    const sink = new DatabaseEventSink(store);
    const a = await sink.publish({ ownerId, source: 'system', type: 'tick', payload: 1, runId });
    const b = await sink.publish({ ownerId, source: 'system', type: 'tick', payload: 2 });
    expect(a).not.toBe(b);
    await db.deleteFrom('workflow_runs').where('id', '=', runId).execute();
    const rows = await events();
    expect(rows.every((r) => r.run_id === null)).toBe(true);
    expect(rows.filter((r) => r.type === 'tick')).toHaveLength(2);
  });

  it('refuses an event with no source, the reserved source, or a payload that is not JSON', async () => {
    const sink = new DatabaseEventSink(store);
    await expectRuntimeError(
      sink.publish({ ownerId, source: '', type: 't', payload: null }),
      'INPUT_INVALID',
      false,
    );
    await expectRuntimeError(
      sink.publish({ ownerId, source: 's', type: 't', payload: { n: 1n } }),
      'INPUT_INVALID',
      false,
    );
    // The system's own source cannot be forged by an agent.
    await expectRuntimeError(
      sink.publish({ ownerId, source: 'Swarm', type: 'run.failed', payload: {} }),
      'INPUT_INVALID',
      false,
    );
  });

  it('rejects a status outside pending/dispatched/failed', async () => {
    await expect(
      db
        .insertInto('events')
        .values({ id: newId(), owner_id: ownerId, source: 's', type: 't', payload: 'null', status: 'lost' })
        .execute(),
    ).rejects.toThrow();
  });
});
