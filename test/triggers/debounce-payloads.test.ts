import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  configureBlobs,
  insertEvents,
  isBlobReference,
  loadJson,
  referenceSha,
  sweepBlobs,
} from '../../src/blobs/index.js';
import { loadConfig } from '../../src/config/index.js';
import { openKeyring } from '../../src/secrets/index.js';
import { buildApp } from '../../src/server/index.js';
import { EventDispatcher, fireDebounced, signPayload, syncTriggers } from '../../src/triggers/index.js';
import { engineFixture, type EngineFixture } from '../engine/helpers.js';
import { DIALECTS } from '../helpers/databases.js';

const KIB = 1024;
const HOUR = 3_600_000;

/** A debounced trigger's pending data over the threshold is a blob its row references (docs/payloads.md). */
describe.each(DIALECTS)("a debounced trigger's large pending data on %s", (dialect) => {
  let fx: EngineFixture;
  const keyring = openKeyring(loadConfig({ SWARM_MASTER_KEY: randomBytes(32).toString('base64') }));
  const logger = pino({ level: 'silent' });

  beforeEach(async () => {
    configureBlobs({ inlineMax: KIB });
    fx = await engineFixture(dialect);
  });
  afterEach(async () => {
    configureBlobs({});
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
  const publish = async (payload: unknown) => {
    await insertEvents(fx.store.handle.db, fx.store.handle.dialect, [
      { ownerId: fx.caller.userId, source: 'shop', type: 'cart.updated', payload },
    ]);
    await new EventDispatcher(fx.store, fx.engine, [], logger).dispatchPending();
  };
  const pending = () =>
    fx.store.handle.db
      .selectFrom('trigger_debounces')
      .select(['id', 'debounce_key', 'trigger_data', 'coalesced'])
      .orderBy('debounce_key')
      .execute();
  const refs = () =>
    fx.store.handle.db
      .selectFrom('blob_refs')
      .select(['sha256', 'source_id', 'owner_id'])
      .where('source', '=', 'trigger_debounces')
      .execute();
  const shaOf = (text: string) => {
    const stored: unknown = JSON.parse(text);
    expect(isBlobReference(stored)).toBe(true);
    return referenceSha(stored as never);
  };
  const later = (ms: number) => new Date(Date.now() + ms);

  it('stores a large pending firing as a blob, one per key, and starts the run with it whole', async () => {
    await apply('cart', {
      type: 'event',
      source: 'shop',
      event_type: 'cart.updated',
      debounce: { key: 'payload.cart', period: '5s' },
    });
    await publish({ cart: 'c1', n: 1, text: 'a'.repeat(4 * KIB) });
    const [first] = await pending();
    const firstSha = shaOf(first!.trigger_data);
    expect(await refs()).toEqual([{ sha256: firstSha, source_id: first!.id, owner_id: fx.caller.userId }]);

    // A later firing of the key replaces the data: its row references the new blob, not the old.
    await publish({ cart: 'c1', n: 2, text: 'b'.repeat(4 * KIB) });
    let [row] = await pending();
    expect(row).toMatchObject({ id: first!.id, coalesced: 2 });
    const secondSha = shaOf(row!.trigger_data);
    expect(secondSha).not.toBe(firstSha);
    expect(await refs()).toEqual([{ sha256: secondSha, source_id: first!.id, owner_id: fx.caller.userId }]);

    // Small data is stored inline as before, and the row no longer references any blob.
    await publish({ cart: 'c1', n: 3 });
    [row] = await pending();
    expect(JSON.parse(row!.trigger_data)).toMatchObject({ payload: { cart: 'c1', n: 3 } });
    expect(await refs()).toEqual([]);

    const text = 'c'.repeat(4 * KIB);
    await publish({ cart: 'c1', n: 4, text });
    await publish({ cart: 'c2', n: 10 });
    const rows = await pending();
    expect(rows.map((r) => [r.debounce_key, r.coalesced])).toEqual([
      ['c1', 4],
      ['c2', 1],
    ]);
    const lastSha = shaOf(rows[0]!.trigger_data);
    expect(await refs()).toEqual([{ sha256: lastSha, source_id: rows[0]!.id, owner_id: fx.caller.userId }]);

    expect(await fireDebounced(fx.store, fx.engine, logger, later(6000))).toBe(2);
    const runs = await fx.store.handle.db
      .selectFrom('workflow_runs')
      .select(['trigger_data'])
      .where('workflow_name', '=', 'cart')
      .execute();
    const data = await Promise.all(
      runs.map((r) =>
        loadJson<{ payload: { cart: string; n: number; text?: string } }>(fx.store.handle.db, r.trigger_data),
      ),
    );
    const c1 = data.find((d) => d!.payload.cart === 'c1')!;
    // The run got the last firing's data whole, and holds it as the same blob.
    expect(c1.payload.n).toBe(4);
    expect(c1.payload.text).toBe(text);
    expect(runs.map((r) => JSON.parse(String(r.trigger_data)) as unknown)).toContainEqual(
      JSON.parse(rows[0]!.trigger_data),
    );

    // Fired, the pending rows are gone, and the sweep drops their references.
    expect(await pending()).toEqual([]);
    expect((await sweepBlobs(fx.store.handle, later(2 * HOUR))).references).toBeGreaterThanOrEqual(1);
    expect(await refs()).toEqual([]);
  });

  it('drops the references of a pending firing whose trigger is deleted', async () => {
    await apply('gone', {
      type: 'event',
      source: 'shop',
      event_type: 'cart.updated',
      debounce: { period: '1h' },
    });
    await publish({ n: 1, text: 'x'.repeat(4 * KIB) });
    expect(await refs()).toHaveLength(1);
    await sweepBlobs(fx.store.handle, later(2 * HOUR));
    expect(await refs()).toHaveLength(1);
    await fx.store.handle.db.deleteFrom('triggers').execute();
    expect(await pending()).toEqual([]);
    expect((await sweepBlobs(fx.store.handle, later(2 * HOUR))).references).toBe(1);
    expect(await refs()).toEqual([]);
  });

  it('starts the run with a webhook body shaped like a reference exactly as it was sent', async () => {
    const app: FastifyInstance = await buildApp({
      store: fx.store,
      engine: fx.engine,
      keyring,
      onRunStarted: () => {},
    });
    try {
      const hook = await apply('hooked', { type: 'webhook', path: 'in', debounce: { period: '2s' } });
      const lookalike = { $blob: `sha256:${'a'.repeat(64)}`, size: 1 };
      const body = JSON.stringify(lookalike);
      const res = await app.inject({
        method: 'POST',
        url: `/hooks/${hook.path}`,
        payload: body,
        headers: { 'content-type': 'application/json', 'x-swarm-signature': signPayload(hook.secret!, body) },
      });
      expect(res.json()).toMatchObject({ status: 'debounced' });
      const [row] = await pending();
      expect(JSON.parse(row!.trigger_data)).toEqual({ '$blob:literal': lookalike });
      expect(await refs()).toEqual([]);
      expect(await fireDebounced(fx.store, fx.engine, logger, later(3000))).toBe(1);
      const [run] = await fx.store.handle.db
        .selectFrom('workflow_runs')
        .select(['trigger_data'])
        .where('workflow_name', '=', 'hooked')
        .execute();
      expect(await loadJson(fx.store.handle.db, run!.trigger_data)).toEqual(lookalike);
      const view = await fx.engine.getRun(
        fx.caller,
        (
          await fx.store.handle.db
            .selectFrom('workflow_runs')
            .select('id')
            .where('workflow_name', '=', 'hooked')
            .executeTakeFirstOrThrow()
        ).id,
      );
      expect(view.trigger.data).toEqual(lookalike);
    } finally {
      await app.close();
    }
  });
});
