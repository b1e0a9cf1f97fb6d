import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapAdmin } from '../../src/auth/index.js';
import { configureBlobs, isBlobReference, referenceSha } from '../../src/blobs/index.js';
import { loadConfig } from '../../src/config/index.js';
import { Engine } from '../../src/engine/index.js';
import { buildApp } from '../../src/server/index.js';
import { Store } from '../../src/storage/index.js';
import { EventDispatcher, TriggerDaemon } from '../../src/triggers/index.js';
import { createWorker, type Worker } from '../../src/worker/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { until } from '../helpers/until.js';

/** `wait_for` steps: waits settled by the event dispatcher, with a real worker, daemon and API. */
describe.each(DIALECTS)('waiting for events on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let engine: Engine;
  let app: FastifyInstance;
  let key: string;
  let running: { worker: Worker; daemon: TriggerDaemon } | null = null;
  const logger = pino({ level: 'silent' });

  // One database for the file: each test has workflows (and order ids) of its own.
  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    key = (await bootstrapAdmin(store, testDb.dir, 'http://x'))!.key;
    engine = new Engine(store);
    app = await buildApp({
      store,
      engine,
      onRunStarted: () => running?.worker.notify(),
      // The test polls runs faster than a key's 60 requests a minute.
      rateLimits: false,
    });
  });
  afterEach(() => stopProcesses());
  afterAll(async () => {
    await app.close();
    await store.close();
    await testDb.drop();
  });

  /** The worker and the trigger daemon (scheduler + event dispatcher) of one server process. */
  function startProcesses(): void {
    const config = loadConfig({ DATABASE_URL: testDb.url, SWARM_HOME: testDb.dir });
    const worker = createWorker(store, engine, config, logger, { concurrency: 4 });
    const daemon = new TriggerDaemon({
      store,
      engine,
      logger,
      eventIntervalMs: 100,
      onStarted: () => worker.notify(),
    });
    running = { worker, daemon };
    worker.start();
    daemon.start();
  }
  async function stopProcesses(): Promise<void> {
    await running?.daemon.stop();
    await running?.worker.stop(1000);
    running = null;
  }

  async function call(method: 'GET' | 'POST', url: string, payload?: unknown) {
    return app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${key}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  }
  async function apply(definition: Record<string, unknown>): Promise<void> {
    const res = await call('POST', '/api/v1/workflows', { version: '1.0.0', ...definition });
    expect(res.statusCode, res.body).toBe(201);
  }
  async function start(workflow: string, input: unknown): Promise<string> {
    const res = await call('POST', `/api/v1/workflows/${workflow}/runs`, { input });
    expect(res.statusCode, res.body).toBe(202);
    return (res.json() as { id: string }).id;
  }
  async function publish(type: string, payload: unknown, source = 'shop'): Promise<string> {
    const res = await call('POST', '/api/v1/events', { source, type, payload });
    expect(res.statusCode, res.body).toBe(202);
    return (res.json() as { id: string }).id;
  }
  type RunJson = {
    status: string;
    startedAt: string;
    steps: Record<string, { status: string; output?: unknown; error?: string }>;
    waiting: { id: string; kind: string; stepId: string; timeoutAt: string | null; eventType?: string }[];
  };
  const run = async (id: string) => (await call('GET', `/api/v1/runs/${id}`)).json() as RunJson;
  const finished = (id: string) =>
    until(`run ${id} to end`, async () => {
      const r = await run(id);
      return ['completed', 'failed', 'cancelled', 'timeout'].includes(r.status) ? r : undefined;
    });
  const waitpointOf = (runId: string) =>
    store.handle.db.selectFrom('waitpoints').selectAll().where('run_id', '=', runId).executeTakeFirst();
  /** Until the run's step waits and the dispatcher has checked it against past events. */
  const waiting = (runId: string) =>
    until(`run ${runId} to wait, backfilled`, async () => {
      const wp = await waitpointOf(runId);
      return wp?.status === 'waiting' && wp.matched_through !== null ? wp : undefined;
    });
  const dispatched = (eventId: string) =>
    until(`event ${eventId} dispatched`, async () => {
      const row = await store.handle.db
        .selectFrom('events')
        .select('status')
        .where('id', '=', eventId)
        .executeTakeFirst();
      return row?.status === 'dispatched';
    });
  const eventRow = (id: string) =>
    store.handle.db.selectFrom('events').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

  const order = (name: string) => ({
    name,
    steps: [
      {
        id: 'paid',
        wait_for: {
          event: 'order.paid',
          source: 'shop',
          match: 'event.payload.order_id = trigger.order_id',
          timeout: '1h',
        },
      },
      {
        id: 'ship',
        agent: 'builtin/transform',
        needs: ['paid'],
        input: { order: '{{ trigger.order_id }}', paid_by: '{{ steps.paid.output.event.id }}' },
      },
    ],
  });

  it('counts an event published 1 s before the step began waiting (the lookback), not one from before the run', async () => {
    const ORDER = order('order');
    await apply(ORDER);
    await apply({
      ...ORDER,
      name: 'order-fresh',
      steps: [
        { ...ORDER.steps[0], wait_for: { ...ORDER.steps[0]!.wait_for, lookback: '0s' } },
        ORDER.steps[1],
      ],
    });
    const before = await publish('order.paid', { order_id: 'A-1', note: 'before the run' });
    const id = await start('order', { order_id: 'A-1' });
    const fresh = await start('order-fresh', { order_id: 'A-1' });
    // Published before the run started: moved an hour back, so no clock tie can make it count.
    const startedAt = Date.parse((await run(id)).startedAt);
    await store.handle.db
      .updateTable('events')
      .set({ created_at: new Date(startedAt - 3_600_000).toISOString() })
      .where('id', '=', before)
      .execute();
    const otherOrder = await publish('order.paid', { order_id: 'A-2' });
    const otherSource = await publish('order.paid', { order_id: 'A-1' }, 'elsewhere');
    const paid = await publish('order.paid', { order_id: 'A-1', total: 12 });
    // Every event is dispatched before any step waits: no worker runs yet.
    await new EventDispatcher(store, engine).dispatchPending();
    for (const event of [before, otherOrder, otherSource, paid])
      expect((await eventRow(event)).status).toBe('dispatched');
    expect(await waitpointOf(id)).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 1000));

    startProcesses();
    const done = await finished(id);
    expect(done.status).toBe('completed');
    expect(done.steps.paid!.output).toEqual({
      event: {
        id: paid,
        type: 'order.paid',
        source: 'shop',
        payload: { order_id: 'A-1', total: 12 },
        created_at: (await eventRow(paid)).created_at,
      },
      waited_ms: expect.any(Number),
    });
    expect(done.steps.ship!.output).toEqual({ order: 'A-1', paid_by: paid });
    const wp = (await waitpointOf(id))!;
    expect(wp).toMatchObject({ status: 'resolved', kind: 'event', resolved_by: `event:${paid}` });
    expect(Date.parse(wp.created_at) - Date.parse((await eventRow(paid)).created_at)).toBeGreaterThanOrEqual(
      1000,
    );
    expect(done.waiting).toEqual([]);

    // lookback 0s: only events from the moment it began waiting; those four were all before.
    const freshWait = await waiting(fresh);
    expect(freshWait.events_since).not.toBeNull();
    for (const old of [before, otherOrder, otherSource, paid])
      expect(Date.parse((await eventRow(old)).created_at)).toBeLessThan(Date.parse(freshWait.events_since!));
    expect((await run(fresh)).status).toBe('running');
    const later = await publish('order.paid', { order_id: 'A-1' });
    expect((await finished(fresh)).steps.ship!.output).toEqual({ order: 'A-1', paid_by: later });
  });

  it('is satisfied by an event published later; one event satisfies every run it matches, others wait', async () => {
    await apply(order('order-later'));
    startProcesses();
    const [a, b, c] = [
      await start('order-later', { order_id: 'B-7' }),
      await start('order-later', { order_id: 'B-7' }),
      await start('order-later', { order_id: 'B-8' }),
    ];
    for (const id of [a, b, c]) await waiting(id);
    expect((await run(a)).waiting).toEqual([
      {
        id: (await waitpointOf(a))!.id,
        kind: 'event',
        stepId: 'paid',
        eventType: 'order.paid',
        timeoutAt: (await waitpointOf(a))!.timeout_at,
        createdAt: expect.any(String),
      },
    ]);

    const noise = [
      await publish('order.paid', { order_id: 'B-9' }),
      await publish('order.paid', { order_id: 'B-7' }, 'elsewhere'),
      await publish('order.shipped', { order_id: 'B-7' }),
    ];
    for (const id of noise) await dispatched(id);
    for (const id of [a, b, c]) expect((await waitpointOf(id))!.status).toBe('waiting');

    const paid = await publish('order.paid', { order_id: 'B-7' });
    const [doneA, doneB] = [await finished(a), await finished(b)];
    expect(doneA.steps.ship!.output).toEqual({ order: 'B-7', paid_by: paid });
    expect(doneB.steps.ship!.output).toEqual({ order: 'B-7', paid_by: paid });
    expect((await waitpointOf(c))!.status).toBe('waiting');
    expect((await run(c)).status).toBe('running');

    const second = await publish('order.paid', { order_id: 'B-8' });
    expect((await finished(c)).steps.ship!.output).toEqual({ order: 'B-8', paid_by: second });
  });

  it('settles a wait with a large event: the waitpoint references a blob, the step gets the event whole', async () => {
    try {
      await apply(order('order-large'));
      startProcesses();
      // After the worker's creation, which configures blobs from its config.
      configureBlobs({ inlineMax: 1024 });
      const id = await start('order-large', { order_id: 'L-1' });
      const wp = await waiting(id);
      const note = 'n'.repeat(8 * 1024);
      const paid = await publish('order.paid', { order_id: 'L-1', note });
      const done = await finished(id);
      expect(done.status).toBe('completed');
      const output = done.steps.paid!.output as { event: { id: string; payload: { note: string } } };
      expect(output.event.id).toBe(paid);
      expect(output.event.payload.note).toBe(note);
      const stored: unknown = JSON.parse((await waitpointOf(id))!.result!);
      expect(isBlobReference(stored)).toBe(true);
      const refs = await store.handle.db
        .selectFrom('blob_refs')
        .select('sha256')
        .where('source', '=', 'waitpoints')
        .where('source_id', '=', wp.id)
        .execute();
      expect(refs.map((r) => r.sha256)).toEqual([referenceSha(stored as never)]);
    } finally {
      configureBlobs({});
    }
  });

  it('times out: on_timeout fail fails the step, continue completes it with {timed_out: true}', async () => {
    const wait = { event: 'order.paid', match: 'event.payload.order_id = trigger.order_id', timeout: '1s' };
    await apply({ name: 'strict', steps: [{ id: 'paid', wait_for: wait }] });
    await apply({
      name: 'lenient',
      steps: [
        { id: 'paid', wait_for: { ...wait, on_timeout: 'continue' } },
        {
          id: 'next',
          agent: 'builtin/transform',
          needs: ['paid'],
          input: { paid: '{{ steps.paid.output }}' },
        },
      ],
    });
    startProcesses();
    const strict = await start('strict', { order_id: 'C-1' });
    const lenient = await start('lenient', { order_id: 'C-1' });
    await publish('order.paid', { order_id: 'C-2' });

    const failed = await finished(strict);
    expect(failed.status).toBe('failed');
    expect(failed.steps.paid!.error).toMatch(/no order\.paid event matching came within 1s/);
    expect(await waitpointOf(strict)).toMatchObject({ status: 'timed_out', resolved_by: 'timeout' });
    const attempts = await store.handle.db
      .selectFrom('tasks')
      .select(['status', 'retry_count'])
      .where('run_id', '=', strict)
      .execute();
    expect(attempts).toEqual([{ status: 'FAILED', retry_count: 0 }]);

    const continued = await finished(lenient);
    expect(continued.status).toBe('completed');
    expect(continued.steps.paid!.output).toEqual({ timed_out: true });
    expect(continued.steps.next!.output).toEqual({ paid: { timed_out: true } });
  });

  it('survives a restart of every process during the wait: the event after it completes the run', async () => {
    await apply(order('order-restart'));
    startProcesses();
    const id = await start('order-restart', { order_id: 'D-1' });
    const before = await waiting(id);
    await stopProcesses();
    await app.close();
    await store.close();

    store = await Store.open(testDb.url, { migrate: false });
    engine = new Engine(store);
    app = await buildApp({
      store,
      engine,
      onRunStarted: () => running?.worker.notify(),
      // The test polls runs faster than a key's 60 requests a minute.
      rateLimits: false,
    });
    startProcesses();
    const paid = await publish('order.paid', { order_id: 'D-1' });
    const done = await finished(id);
    expect(done).toMatchObject({
      status: 'completed',
      steps: { ship: { output: { order: 'D-1', paid_by: paid } } },
    });
    expect(await waitpointOf(id)).toMatchObject({
      id: before.id,
      status: 'resolved',
      resolved_by: `event:${paid}`,
    });
  });

  it('refuses a bad wait_for with 400 naming the field, and writes nothing', async () => {
    const res = await call('POST', '/api/v1/workflows', {
      name: 'bad',
      version: '1.0.0',
      steps: [{ id: 'paid', wait_for: { event: 'order.paid', timeout: 'soon', match: 'event.(' } }],
    });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    const fields = (res.json() as { errors: { field: string }[] }).errors.map((e) => e.field);
    expect(fields).toEqual(['steps[0].wait_for.timeout', 'steps[0].wait_for.match']);
    expect((await call('GET', '/api/v1/workflows/bad')).statusCode).toBe(404);
  });

  it('a builtin/delay sleeps on a sleep waitpoint: listed while it waits, cancelled with its run', async () => {
    await apply({ name: 'nap', steps: [{ id: 'wait', agent: 'builtin/delay', input: { ms: 3_600_000 } }] });
    await apply({ name: 'blink', steps: [{ id: 'wait', agent: 'builtin/delay', input: { ms: 200 } }] });
    startProcesses();
    const nap = await start('nap', {});
    const blink = await start('blink', {});
    const sleeping = await until('the delay to sleep', async () => {
      const r = await run(nap);
      return r.waiting.length > 0 ? r : undefined;
    });
    expect(sleeping.waiting).toEqual([
      {
        id: expect.any(String),
        kind: 'sleep',
        stepId: 'wait',
        timeoutAt: (await waitpointOf(nap))!.timeout_at,
        createdAt: expect.any(String),
      },
    ]);
    expect((await finished(blink)).steps.wait!.output).toEqual({ waited_ms: 200, until: expect.any(String) });
    expect(await waitpointOf(blink)).toMatchObject({
      kind: 'sleep',
      status: 'timed_out',
      on_timeout: 'continue',
    });

    expect((await call('POST', `/api/v1/runs/${nap}/cancel`, {})).statusCode).toBe(200);
    expect(await waitpointOf(nap)).toMatchObject({ status: 'cancelled' });
    expect((await run(nap)).waiting).toEqual([]);
  });
});
