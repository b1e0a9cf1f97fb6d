import { insertEvents } from '../../src/blobs/index.js';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Engine } from '../../src/engine/index.js';
import { openKeyring } from '../../src/secrets/index.js';
import { buildApp } from '../../src/server/index.js';
import { Store } from '../../src/storage/index.js';
import {
  EventDispatcher,
  fireDebounced,
  signPayload,
  syncTriggers,
  type SyncedTrigger,
} from '../../src/triggers/index.js';
import { engineFixture, type EngineFixture } from '../engine/helpers.js';
import { DIALECTS } from '../helpers/databases.js';

describe.each(DIALECTS)('trigger debounce and throttle on %s', (dialect) => {
  let fx: EngineFixture;
  const keyring = openKeyring(loadConfig({ SWARM_MASTER_KEY: randomBytes(32).toString('base64') }));
  const logger = pino({ level: 'silent' });

  beforeEach(async () => {
    fx = await engineFixture(dialect);
  });
  afterEach(async () => {
    await fx.close();
  });

  async function apply(name: string, trigger: Record<string, unknown>) {
    const { workflow } = await fx.registry.as(fx.caller).workflows.apply({
      name,
      version: '1.0.0',
      trigger,
      steps: [{ id: 'a', agent: 'builtin/transform', input: { n: '{{ trigger.payload.n }}' } }],
    });
    return (await syncTriggers(fx.store, keyring, fx.caller, [workflow]))[0]!;
  }
  const publish = async (payloads: readonly unknown[]) => {
    for (const payload of payloads)
      await insertEvents(fx.store.handle.db, fx.store.handle.dialect, [
        { ownerId: fx.caller.userId, source: 'shop', type: 'cart.updated', payload },
      ]);
    await new EventDispatcher(fx.store, fx.engine, [], logger).dispatchPending();
  };
  const runsOf = (name: string) =>
    fx.store.handle.db
      .selectFrom('workflow_runs')
      .selectAll()
      .where('workflow_name', '=', name)
      .orderBy('created_at')
      .execute();
  const firings = () =>
    fx.store.handle.db
      .selectFrom('trigger_firings')
      .selectAll()
      .orderBy('created_at')
      .orderBy('id')
      .execute();
  const later = (ms: number) => new Date(Date.now() + ms);

  it('debounce: events of a key coalesce into one run with the last event, fired once, durably', async () => {
    await apply('cart', {
      type: 'event',
      source: 'shop',
      event_type: 'cart.updated',
      debounce: { key: 'payload.cart', period: '5s' },
    });
    await publish([
      { cart: 'c1', n: 1 },
      { cart: 'c1', n: 2 },
      { cart: 'c2', n: 10 },
      { cart: 'c1', n: 3 },
    ]);
    expect(await runsOf('cart')).toHaveLength(0);
    const recorded = await firings();
    expect(recorded.map((f) => [f.status, f.flow_key])).toEqual([
      ['skipped', 'c1'],
      ['skipped', 'c1'],
      ['skipped', 'c2'],
      ['skipped', 'c1'],
    ]);
    expect(recorded[0]!.error).toMatch(/^debounced \(key "c1"\)/);
    // Not due yet: nothing fires.
    expect(await fireDebounced(fx.store, fx.engine, logger)).toBe(0);

    // "After a restart", from two processes at once: a new store and engine each (one store on
    // SQLite, whose single writer the processes would share). Each key fires exactly once.
    const stores =
      dialect === 'postgres'
        ? [await Store.open(fx.testDb.url), await Store.open(fx.testDb.url)]
        : [fx.store];
    try {
      const started = await Promise.all(
        [...stores, ...stores].map((store) => fireDebounced(store, new Engine(store), logger, later(6000))),
      );
      expect(started.reduce((a, b) => a + b, 0)).toBe(2);
    } finally {
      for (const store of stores) if (store !== fx.store) await store.close();
    }
    const runs = await runsOf('cart');
    expect(runs).toHaveLength(2);
    const byCart = Object.fromEntries(
      runs.map((r) => {
        const data = JSON.parse(String(r.trigger_data)) as { payload: { cart: string; n: number } };
        return [data.payload.cart, data.payload.n];
      }),
    );
    // The last event of each key.
    expect(byCart).toEqual({ c1: 3, c2: 10 });
    expect(await fireDebounced(fx.store, fx.engine, logger, later(60_000))).toBe(0);
    const pending = await fx.store.handle.db.selectFrom('trigger_debounces').selectAll().execute();
    expect(pending).toHaveLength(0);

    // A new event after the run starts a new quiet period.
    await publish([{ cart: 'c1', n: 4 }]);
    expect(await fireDebounced(fx.store, fx.engine, logger, later(6000))).toBe(1);
    expect(await runsOf('cart')).toHaveLength(3);
  });

  it('throttle: at most `limit` runs per key per period; the rest are refused firings', async () => {
    await apply('limited', {
      type: 'event',
      source: 'shop',
      event_type: 'cart.updated',
      throttle: { key: 'payload.cart', limit: 2, period: '1h' },
    });
    await publish([
      { cart: 'c1', n: 1 },
      { cart: 'c1', n: 2 },
      { cart: 'c1', n: 3 },
      { cart: 'c2', n: 4 },
      { cart: 'c1', n: 5 },
    ]);
    const runs = await runsOf('limited');
    expect(
      runs.map((r) => (JSON.parse(String(r.trigger_data)) as { payload: { n: number } }).payload.n),
    ).toEqual([1, 2, 4]);
    const recorded = await firings();
    expect(recorded.map((f) => [f.status, f.reason, f.flow_key])).toEqual([
      ['started', null, 'c1'],
      ['started', null, 'c1'],
      ['refused', 'throttled', 'c1'],
      ['started', null, 'c2'],
      ['refused', 'throttled', 'c1'],
    ]);
    expect(recorded[2]!.error).toMatch(
      /^throttled: 2 run\(s\) started for key "c1" in the last 1h \(limit 2\)/,
    );
  });

  it('a key that fails on an event records a failed firing naming the field', async () => {
    await apply('bad-key', {
      type: 'event',
      source: 'shop',
      event_type: 'cart.updated',
      throttle: { key: 'payload.cart', limit: 1, period: '1m' },
    });
    await publish([{ n: 1 }]);
    const [firing] = await firings();
    expect(firing).toMatchObject({ status: 'failed' });
    expect(firing!.error).toMatch(/^trigger\.throttle\.key: must evaluate to a string/);
    expect(await runsOf('bad-key')).toHaveLength(0);
  });

  describe('webhooks', () => {
    let app: FastifyInstance;
    let hook: SyncedTrigger;
    beforeEach(async () => {
      app = await buildApp({
        store: fx.store,
        engine: fx.engine,
        keyring,
        onRunStarted: () => {},
        webhookBodyLimit: 4096,
      });
    });
    afterEach(async () => {
      await app.close();
    });
    const deliver = (body: string) =>
      app.inject({
        method: 'POST',
        url: `/hooks/${hook.path}`,
        payload: body,
        headers: { 'content-type': 'application/json', 'x-swarm-signature': signPayload(hook.secret!, body) },
      });

    it('throttle answers 202 throttled with no run past the limit; a bad key is a 400 naming the field', async () => {
      hook = await apply('hooked', {
        type: 'webhook',
        path: 'in',
        throttle: { key: 'tenant', limit: 1, period: '1h' },
      });
      const first = await deliver('{"tenant":"a"}');
      expect(first.statusCode).toBe(202);
      expect(first.json()).toMatchObject({ status: 'started', runId: expect.any(String) });
      const second = await deliver('{"tenant":"a"}');
      expect(second.statusCode).toBe(202);
      expect(second.json()).toEqual({ status: 'throttled', runId: null, duplicate: false });
      expect((await deliver('{"tenant":"b"}')).json()).toMatchObject({ status: 'started' });
      const bad = await deliver('{"tenant":{"x":1}}');
      expect(bad.statusCode).toBe(400);
      expect(bad.headers['content-type']).toMatch(/problem\+json/);
      expect(bad.json().errors).toEqual([
        { field: 'trigger.throttle.key', message: expect.stringMatching(/must evaluate to a string/) },
      ]);
      expect(await runsOf('hooked')).toHaveLength(2);
      expect(await firings()).toHaveLength(3);
    });

    it('debounce answers 202 debounced and starts one run with the last body', async () => {
      hook = await apply('hooked', { type: 'webhook', path: 'in', debounce: { period: '2s' } });
      for (const n of [1, 2, 3]) {
        const res = await deliver(JSON.stringify({ n }));
        expect(res.json()).toEqual({ status: 'debounced', runId: null, duplicate: false });
      }
      expect(await fireDebounced(fx.store, fx.engine, logger, later(3000))).toBe(1);
      const [run] = await runsOf('hooked');
      expect(JSON.parse(String(run!.trigger_data))).toEqual({ n: 3 });
    });
  });
});
