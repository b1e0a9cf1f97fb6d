import { insertEvents } from '../../src/blobs/index.js';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { openKeyring } from '../../src/secrets/index.js';
import {
  EventDispatcher,
  pruneTriggerRecords,
  syncTriggers,
  TriggerDaemon,
} from '../../src/triggers/index.js';
import {
  createDeliveries,
  DeliveryWorker,
  subscribedEventIds,
  WebhookService,
} from '../../src/webhooks/index.js';
import { createWorker, type Worker } from '../../src/worker/index.js';
import { startReceiver, verifyStandardWebhook } from '../webhooks/receiver.js';
import { engineFixture, type EngineFixture } from '../engine/helpers.js';
import { DIALECTS } from '../helpers/databases.js';
import { until } from '../helpers/until.js';

describe.each(DIALECTS)('event triggers on %s', (dialect) => {
  let fx: EngineFixture;
  let worker: Worker | undefined;
  let daemon: TriggerDaemon | undefined;
  const keyring = openKeyring(loadConfig({ SWARM_MASTER_KEY: randomBytes(32).toString('base64') }));
  const logger = pino({ level: 'silent' });

  beforeEach(async () => {
    fx = await engineFixture(dialect);
  });
  afterEach(async () => {
    await daemon?.stop();
    await worker?.stop(1000);
    daemon = undefined;
    worker = undefined;
    await fx.close();
  });

  async function apply(definition: Record<string, unknown>) {
    const { workflow } = await fx.registry.as(fx.caller).workflows.apply({ version: '1.0.0', ...definition });
    await syncTriggers(fx.store, keyring, fx.caller, [workflow]);
    return workflow;
  }
  const runsOf = (name: string) =>
    fx.store.handle.db
      .selectFrom('workflow_runs')
      .selectAll()
      .where('workflow_name', '=', name)
      .orderBy('created_at')
      .execute();
  const ended = async (name: string, count = 1) =>
    until(`${count} ended run(s) of ${name}`, async () => {
      const rows = await runsOf(name);
      const done = rows.filter((r) => r.status !== 'running' && r.status !== 'pending');
      return done.length >= count ? done : undefined;
    });

  function startAll() {
    const config = loadConfig({ DATABASE_URL: fx.testDb.url, SWARM_HOME: fx.testDb.dir });
    worker = createWorker(fx.store, fx.engine, config, logger, { concurrency: 4, keyring });
    daemon = new TriggerDaemon({
      store: fx.store,
      engine: fx.engine,
      logger,
      eventIntervalMs: 100,
      onStarted: () => worker?.notify(),
    });
    worker.start();
    daemon.start();
  }

  it('an event emitted by an agent step starts the subscribed workflow, with the event as trigger data', async () => {
    await apply({
      name: 'on-order',
      trigger: { type: 'event', source: 'orders', event_type: 'order.created' },
      steps: [
        {
          id: 'ship',
          agent: 'builtin/transform',
          input: { order: '{{ trigger.payload.id }}', via: '{{ trigger.source }}' },
        },
      ],
    });
    const producer = await apply({
      name: 'take-order',
      steps: [
        {
          id: 'emit',
          agent: 'builtin/emit_event',
          input: { source: 'orders', type: 'order.created', payload: { id: '{{ trigger.id }}' } },
        },
      ],
    });
    startAll();
    await fx.engine.startRun(fx.caller, producer, fx.registry.as(fx.caller).agents, {
      input: { id: 'A-17' },
    });
    worker!.notify();
    const [consumer] = await ended('on-order');
    expect(consumer).toMatchObject({ status: 'completed', trigger_type: 'event' });
    expect(JSON.parse(consumer!.trigger_data!)).toMatchObject({
      source: 'orders',
      type: 'order.created',
      payload: { id: 'A-17' },
    });
    expect(JSON.parse(consumer!.step_results).ship.output).toEqual({ order: 'A-17', via: 'orders' });
    const events = await fx.store.handle.db
      .selectFrom('events')
      .selectAll()
      .where('source', '=', 'orders')
      .execute();
    expect(events).toMatchObject([{ status: 'dispatched' }]);
    // The producer's own end is a system event too; nothing subscribes to it, and it is dispatched.
    await until('system events dispatched', async () => {
      const pending = await fx.store.handle.db
        .selectFrom('events')
        .select('id')
        .where('status', '=', 'pending')
        .execute();
      return pending.length === 0 ? true : undefined;
    });
  });

  it('system events: a failed run publishes run.failed, which starts the workflow subscribed to it', async () => {
    await apply({
      name: 'alert-on-failure',
      trigger: { type: 'event', source: 'swarm', event_type: 'run.failed' },
      steps: [
        {
          id: 'say',
          agent: 'builtin/transform',
          input: { failed: '{{ trigger.payload.workflow }}', why: '{{ trigger.payload.error }}' },
        },
      ],
    });
    const failing = await apply({
      name: 'breaks',
      steps: [
        {
          id: 'boom',
          // Refused: private addresses are off limits unless allowed, so the step fails at once.
          agent: 'builtin/http_request',
          input: { url: 'http://127.0.0.1:9/' },
          retry: { max_attempts: 1 },
        },
      ],
    });
    startAll();
    await fx.engine.startRun(fx.caller, failing, fx.registry.as(fx.caller).agents, {});
    worker!.notify();
    const [alert] = await ended('alert-on-failure');
    expect(alert!.status).toBe('completed');
    expect(JSON.parse(alert!.step_results).say.output).toMatchObject({ failed: 'breaks' });
  });

  it('dispatches each event once however many dispatchers race, and only to its owner', async () => {
    const consumer = await apply({
      name: 'counter',
      trigger: { type: 'event', source: 'crm', event_type: '*' },
      steps: [{ id: 'a', agent: 'builtin/transform', input: {} }],
    });
    expect(consumer.name).toBe('counter');
    const other = (await fx.store.system.insertUserIfAbsent({
      name: 'O',
      email: 'o@example.com',
      role: 'member',
    }))!;
    const { db, dialect: adapter } = fx.store.handle;
    await insertEvents(db, adapter, [
      { ownerId: fx.caller.userId, source: 'crm', type: 'lead.created', payload: { n: 1 } },
      { ownerId: fx.caller.userId, source: 'crm', type: 'lead.lost', payload: { n: 2 } },
      { ownerId: fx.caller.userId, source: 'erp', type: 'lead.created', payload: { n: 3 } },
      { ownerId: other.id, source: 'crm', type: 'lead.created', payload: { n: 4 } },
    ]);
    const dispatchers = Array.from({ length: 3 }, () => new EventDispatcher(fx.store, fx.engine));
    const reports = await Promise.all(dispatchers.map((d) => d.dispatchPending()));
    expect(reports.reduce((sum, r) => sum + r.dispatched, 0)).toBe(4);
    expect(reports.reduce((sum, r) => sum + r.runsStarted, 0)).toBe(2);
    const runs = await runsOf('counter');
    expect(runs.map((r) => JSON.parse(r.trigger_data!).payload.n).sort()).toEqual([1, 2]);
    expect(runs.every((r) => r.owner_id === fx.caller.userId)).toBe(true);
    const statuses = await db.selectFrom('events').select('status').execute();
    expect(statuses.every((e) => e.status === 'dispatched')).toBe(true);
    // Dispatching again finds nothing.
    expect(await new EventDispatcher(fx.store, fx.engine).dispatchPending()).toEqual({
      dispatched: 0,
      runsStarted: 0,
    });
  });

  it('an event whose workflow cannot start is still dispatched, with the failed firing recorded', async () => {
    await apply({
      name: 'paused-consumer',
      trigger: { type: 'event', source: 'crm', event_type: 'lead.created' },
      steps: [{ id: 'a', agent: 'builtin/transform', input: {} }],
    });
    await fx.registry.as(fx.caller).workflows.setState('paused-consumer', { status: 'paused' });
    const { db, dialect: adapter } = fx.store.handle;
    await insertEvents(db, adapter, [
      { ownerId: fx.caller.userId, source: 'crm', type: 'lead.created', payload: {} },
    ]);
    expect(await new EventDispatcher(fx.store, fx.engine).dispatchPending()).toEqual({
      dispatched: 1,
      runsStarted: 0,
    });
    const firings = await db.selectFrom('trigger_firings').selectAll().execute();
    expect(firings).toMatchObject([
      { status: 'failed', run_id: null, error: expect.stringMatching(/paused/) },
    ]);
  });

  it('a dispatched event reaches the outgoing webhooks subscribed to it, signed; unsubscribed events go nowhere', async () => {
    const receiver = await startReceiver([200]);
    try {
      const { secret } = await new WebhookService(fx.store, keyring).create(fx.caller, {
        name: 'ops',
        url: receiver.url,
        eventTypes: ['run.*'],
      });
      const { db, dialect: adapter } = fx.store.handle;
      const [wanted] = await insertEvents(db, adapter, [
        { ownerId: fx.caller.userId, source: 'swarm', type: 'run.failed', payload: { run_id: 'r1' } },
        { ownerId: fx.caller.userId, source: 'crm', type: 'lead.created', payload: {} },
      ]);
      const dispatcher = new EventDispatcher(fx.store, fx.engine, [
        {
          wants: (d, events) => subscribedEventIds(d, events),
          take: (trx, a, event) => createDeliveries(trx, a, event),
        },
      ]);
      expect(await dispatcher.dispatchPending()).toEqual({ dispatched: 2, runsStarted: 0 });
      const deliveries = await db.selectFrom('webhook_deliveries').selectAll().execute();
      expect(deliveries).toMatchObject([{ event_id: wanted, event_type: 'run.failed', status: 'pending' }]);
      const sender = new DeliveryWorker({ store: fx.store, keyring, logger, allowPrivateNetworks: true });
      expect(await sender.runOnce()).toBe(1);
      expect(receiver.received).toHaveLength(1);
      const [got] = receiver.received;
      expect(verifyStandardWebhook(secret, got!.headers, got!.body)).toBe(true);
      expect(JSON.parse(got!.body)).toMatchObject({
        type: 'run.failed',
        data: { run_id: 'r1', event_id: wanted },
      });
    } finally {
      await receiver.close();
    }
  });

  it('prunes dispatched events and firings past their retention, never pending events', async () => {
    const { db, dialect: adapter } = fx.store.handle;
    const [oldDone, oldPending, recent] = await insertEvents(db, adapter, [
      { ownerId: fx.caller.userId, source: 'crm', type: 'a', payload: {} },
      { ownerId: fx.caller.userId, source: 'crm', type: 'b', payload: {} },
      { ownerId: fx.caller.userId, source: 'crm', type: 'c', payload: {} },
    ]);
    const longAgo = new Date(Date.now() - 40 * 86_400_000).toISOString();
    await db
      .updateTable('events')
      .set({ created_at: longAgo })
      .where('id', 'in', [oldDone!, oldPending!])
      .execute();
    await db
      .updateTable('events')
      .set({ status: 'dispatched' })
      .where('id', 'in', [oldDone!, recent!])
      .execute();
    const trigger = (
      await apply({
        name: 'kept',
        trigger: { type: 'event', source: 'crm', event_type: 'z' },
        steps: [{ id: 'a', agent: 'builtin/transform', input: {} }],
      })
    ).name;
    const row = await db
      .selectFrom('triggers')
      .select('id')
      .where('workflow_name', '=', trigger)
      .executeTakeFirstOrThrow();
    for (const [key, at] of [
      ['old', longAgo],
      ['new', new Date().toISOString()],
    ] as const) {
      await db
        .insertInto('trigger_firings')
        .values({
          id: `${key}-firing`,
          owner_id: fx.caller.userId,
          trigger_id: row.id,
          fire_key: key,
          status: 'skipped',
          created_at: at,
        })
        .execute();
    }
    expect(await pruneTriggerRecords(fx.store, { eventsDays: 7, firingsDays: 30 })).toEqual({
      events: 1,
      firings: 1,
    });
    const left = await db.selectFrom('events').select('id').orderBy('id').execute();
    expect(left.map((e) => e.id).sort()).toEqual([oldPending!, recent!].sort());
    expect(await db.selectFrom('trigger_firings').select('fire_key').execute()).toEqual([
      { fire_key: 'new' },
    ]);
  });
});
