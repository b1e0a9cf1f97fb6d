import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configureBlobs, insertEvents, isBlobReference, sweepBlobs } from '../../src/blobs/index.js';
import { loadConfig } from '../../src/config/index.js';
import { openKeyring, type Keyring } from '../../src/secrets/index.js';
import { EventDispatcher } from '../../src/triggers/index.js';
import {
  createDeliveries,
  deliveryBody,
  DeliveryWorker,
  subscribedEventIds,
  WebhookService,
} from '../../src/webhooks/index.js';
import { engineFixture, type EngineFixture } from '../engine/helpers.js';
import { DIALECTS } from '../helpers/databases.js';
import { startReceiver, verifyStandardWebhook } from './receiver.js';

const INLINE_MAX = 1024;
const HOUR = 3_600_000;

describe.each(DIALECTS)('webhook deliveries of large payloads on %s', (dialect) => {
  let fx: EngineFixture;
  let keyring: Keyring;
  let service: WebhookService;
  let receiver: Awaited<ReturnType<typeof startReceiver>> | undefined;

  beforeEach(async () => {
    configureBlobs({ inlineMax: INLINE_MAX });
    fx = await engineFixture(dialect);
    keyring = openKeyring(loadConfig({ SWARM_MASTER_KEY: randomBytes(32).toString('base64') }));
    service = new WebhookService(fx.store, keyring);
  });
  afterEach(async () => {
    configureBlobs({});
    await receiver?.close();
    receiver = undefined;
    await fx.close();
  });

  const worker = () =>
    new DeliveryWorker({
      store: fx.store,
      keyring,
      logger: pino({ level: 'silent' }),
      allowPrivateNetworks: true,
    });

  /** Publishes an event and dispatches it the way the server does, webhooks subscribed. */
  async function publishAndDispatch(payload: unknown) {
    const { db, dialect: d } = fx.store.handle;
    const [id] = await d.writeTransaction(db, (trx) =>
      insertEvents(trx, d, [{ ownerId: fx.caller.userId, source: 'swarm', type: 'run.completed', payload }]),
    );
    const dispatcher = new EventDispatcher(fx.store, fx.engine, [
      { wants: subscribedEventIds, take: createDeliveries },
    ]);
    expect((await dispatcher.dispatchPending()).dispatched).toBe(1);
    const row = await db.selectFrom('events').selectAll().where('id', '=', id!).executeTakeFirstOrThrow();
    return { id: id!, createdAt: row.created_at, storedPayload: row.payload };
  }

  const deliveryRows = () =>
    fx.store.handle.db.selectFrom('webhook_deliveries').selectAll().orderBy('id').execute();
  const deliveryRefs = () =>
    fx.store.handle.db
      .selectFrom('blob_refs')
      .selectAll()
      .where('source', '=', 'webhook_deliveries')
      .orderBy('source_id')
      .execute();

  it('stores a large body as one blob referenced by each delivery, and POSTs it whole and signed', async () => {
    receiver = await startReceiver([200]);
    const first = await service.create(fx.caller, { name: 'a', url: receiver.url, eventTypes: ['run.*'] });
    const second = await service.create(fx.caller, { name: 'b', url: receiver.url, eventTypes: ['*'] });
    const payload = { run_id: 'r1', text: 'é'.repeat(4 * INLINE_MAX), items: [1, { nested: true }] };
    const event = await publishAndDispatch(payload);
    expect(isBlobReference(JSON.parse(event.storedPayload))).toBe(true);

    const deliveries = await deliveryRows();
    expect(deliveries).toHaveLength(2);
    const refs = deliveries.map((d) => JSON.parse(d.payload) as unknown);
    for (const ref of refs) expect(isBlobReference(ref)).toBe(true);
    expect(refs[1]).toEqual(refs[0]);
    const sha = (refs[0] as { $blob: string }).$blob.slice('sha256:'.length);
    expect((await deliveryRefs()).map((r) => [r.source_id, r.sha256, r.owner_id])).toEqual(
      deliveries.map((d) => [d.id, sha, fx.caller.userId]),
    );

    expect(await worker().runOnce()).toBe(2);
    expect(receiver.received).toHaveLength(2);
    const expected = JSON.stringify(
      deliveryBody({ ...event, ownerId: fx.caller.userId, source: 'swarm', type: 'run.completed', payload }),
    );
    const secrets = new Map([
      [first.webhook.id, first.secret],
      [second.webhook.id, second.secret],
    ]);
    for (const request of receiver.received) {
      expect(request.body).toBe(expected);
      const delivery = deliveries.find((d) => d.id === request.headers['webhook-id'])!;
      expect(verifyStandardWebhook(secrets.get(delivery.webhook_id)!, request.headers, request.body)).toBe(
        true,
      );
    }
    expect((await deliveryRows()).map((d) => d.status)).toEqual(['succeeded', 'succeeded']);
    // One delivery's view carries its whole body, as it would inline.
    expect((await service.delivery(fx.caller, deliveries[0]!.id)).payload).toEqual(JSON.parse(expected));

    // Once the deliveries are gone (their webhooks deleted), the sweep drops their references.
    await service.delete(fx.caller, first.webhook.id);
    await service.delete(fx.caller, second.webhook.id);
    const swept = await sweepBlobs(fx.store.handle, new Date(Date.now() + 2 * HOUR));
    expect(swept.references).toBeGreaterThanOrEqual(2);
    expect(await deliveryRefs()).toEqual([]);
  });

  it('keeps a small body inline, sent as before, and a value shaped like a reference a value', async () => {
    receiver = await startReceiver([200]);
    const { secret } = await service.create(fx.caller, { name: 'a', url: receiver.url, eventTypes: ['*'] });
    const lookalike = { $blob: `sha256:${'ab'.repeat(32)}`, size: 1 };
    const event = await publishAndDispatch(lookalike);

    const [delivery] = await deliveryRows();
    const stored = JSON.parse(delivery!.payload) as { type: string; timestamp: string; data: unknown };
    expect(isBlobReference(stored)).toBe(false);
    expect(await deliveryRefs()).toEqual([]);
    expect(await worker().runOnce()).toBe(1);
    const [request] = receiver.received;
    // What the worker sent before blobs: the row's body in the order type, timestamp, data.
    expect(request!.body).toBe(
      JSON.stringify({ type: stored.type, timestamp: stored.timestamp, data: stored.data }),
    );
    expect(JSON.parse(request!.body)).toEqual({
      type: 'run.completed',
      timestamp: event.createdAt,
      data: { ...lookalike, source: 'swarm', event_id: event.id },
    });
    expect(verifyStandardWebhook(secret, request!.headers, request!.body)).toBe(true);
  });

  it('fails a delivery whose blob is gone without sending it, instead of retrying forever', async () => {
    receiver = await startReceiver([200]);
    await service.create(fx.caller, { name: 'a', url: receiver.url, eventTypes: ['*'] });
    await publishAndDispatch({ text: 'x'.repeat(2 * INLINE_MAX) });
    const [delivery] = await deliveryRows();
    const { $blob } = JSON.parse(delivery!.payload) as { $blob: string };
    const sha = $blob.slice('sha256:'.length);
    await fx.store.handle.db.deleteFrom('blob_chunks').where('sha256', '=', sha).execute();

    expect(await worker().runOnce()).toBe(1);
    expect(receiver.received).toHaveLength(0);
    const [failed] = await deliveryRows();
    expect(failed).toMatchObject({ status: 'failed', attempt_count: 1, last_status_code: null });
    expect(failed!.last_error).toMatch(/^blob sha256:[0-9a-f]{64} cannot be read/);
  });
});
