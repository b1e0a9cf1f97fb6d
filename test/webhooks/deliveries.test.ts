import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { openKeyring, type Keyring } from '../../src/secrets/index.js';
import { newId, Store, type Caller } from '../../src/storage/index.js';
import {
  createDeliveries,
  DeliveryWorker,
  WebhookService,
  type DeliveryWorkerOptions,
} from '../../src/webhooks/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { startReceiver, verifyStandardWebhook } from './receiver.js';

const HOUR = 3_600_000;

describe.each(DIALECTS)('webhook deliveries on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let keyring: Keyring;
  let service: WebhookService;
  let ada: Caller;
  let bob: Caller;
  let receiver: Awaited<ReturnType<typeof startReceiver>> | undefined;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    keyring = openKeyring(loadConfig({ SWARM_MASTER_KEY: randomBytes(32).toString('base64') }));
    service = new WebhookService(store, keyring);
    const user = async (name: string) =>
      ({
        userId: (await store.system.insertUserIfAbsent({ name, email: `${name}@x`, role: 'member' }))!.id,
        role: 'member',
      }) as const;
    ada = await user('ada');
    bob = await user('bob');
  });
  afterEach(async () => {
    await receiver?.close();
    receiver = undefined;
    await store.close();
    await testDb.drop();
  });

  function worker(options: Partial<DeliveryWorkerOptions> = {}) {
    return new DeliveryWorker({
      store,
      keyring,
      logger: pino({ level: 'silent' }),
      allowPrivateNetworks: true,
      backoff: { baseMs: 10 },
      ...options,
    });
  }

  async function publish(ownerId: string, type = 'run.completed', payload: unknown = { run_id: 'r1' }) {
    const event = {
      id: newId(),
      ownerId,
      source: 'swarm',
      type,
      payload,
      createdAt: new Date().toISOString(),
    };
    const queued = await store.dialect.writeTransaction(store.handle.db, (trx) =>
      createDeliveries(trx, store.dialect, event),
    );
    return { event, queued };
  }

  const deliveryRows = () =>
    store.handle.db.selectFrom('webhook_deliveries').selectAll().orderBy('id').execute();
  const attemptRows = (deliveryId: string) =>
    store.handle.db
      .selectFrom('webhook_delivery_attempts')
      .selectAll()
      .where('delivery_id', '=', deliveryId)
      .orderBy('attempt')
      .execute();

  it('queues one delivery per matching active webhook of the owner, and sends it signed', async () => {
    receiver = await startReceiver([200]);
    const { webhook, secret } = await service.create(ada, {
      name: 'runs',
      url: receiver.url,
      eventTypes: ['run.*'],
    });
    await service.create(ada, { name: 'other type', url: receiver.url, eventTypes: ['task.failed'] });
    const off = await service.create(ada, { name: 'off', url: receiver.url, eventTypes: ['*'] });
    await service.update(ada, off.webhook.id, { active: false });
    await service.create(bob, { name: "bob's", url: receiver.url, eventTypes: ['*'] });

    const { event, queued } = await publish(ada.userId);
    expect(queued).toBe(1);
    const [delivery] = await deliveryRows();
    expect(delivery).toMatchObject({ webhook_id: webhook.id, status: 'pending', owner_id: ada.userId });
    // Handing the same event over again queues nothing more.
    expect(
      await store.dialect.writeTransaction(store.handle.db, (trx) =>
        createDeliveries(trx, store.dialect, event),
      ),
    ).toBe(0);

    expect(await worker().runOnce()).toBe(1);
    expect(receiver.received).toHaveLength(1);
    const [request] = receiver.received;
    expect(request!.headers['webhook-id']).toBe(delivery!.id);
    expect(request!.headers['content-type']).toBe('application/json');
    expect(verifyStandardWebhook(secret, request!.headers, request!.body)).toBe(true);
    // The verifier is not fooled by a changed body or another secret.
    expect(verifyStandardWebhook(secret, request!.headers, request!.body.replace('r1', 'r2'))).toBe(false);
    const other = `whsec_${randomBytes(32).toString('base64')}`;
    expect(verifyStandardWebhook(other, request!.headers, request!.body)).toBe(false);
    expect(JSON.parse(request!.body)).toEqual({
      type: 'run.completed',
      timestamp: event.createdAt,
      data: { run_id: 'r1', source: 'swarm', event_id: event.id },
    });

    const [sent] = await deliveryRows();
    expect(sent).toMatchObject({
      status: 'succeeded',
      attempt_count: 1,
      last_status_code: 200,
      last_error: null,
    });
    expect(sent!.delivered_at).not.toBeNull();
    expect(await attemptRows(sent!.id)).toEqual([
      expect.objectContaining({ attempt: 1, status_code: 200, error: null, owner_id: ada.userId }),
    ]);
    expect((await service.get(ada, webhook.id)).lastDeliveryAt).not.toBeNull();
    expect(await worker().runOnce()).toBe(0);
  });

  it('retries a 500 with back-off, keeping the delivery id, until a 200', async () => {
    receiver = await startReceiver([500, 500, 200]);
    const { secret } = await service.create(ada, { name: 'flaky', url: receiver.url, eventTypes: ['*'] });
    await publish(ada.userId, 'anything.at.all', ['not', 'an', 'object']);
    const sender = worker({ backoff: { baseMs: 60_000 } });
    const start = Date.now();
    expect(await sender.runOnce(new Date(start))).toBe(1);
    const [afterFirst] = await deliveryRows();
    expect(afterFirst).toMatchObject({ status: 'pending', attempt_count: 1, last_status_code: 500 });
    expect(afterFirst!.last_error).toMatch(/^HTTP 500: receiver says no/);
    // Not due again before its back-off (≥ 48 s with jitter), due within a minute and a bit.
    expect(Date.parse(afterFirst!.next_attempt_at!)).toBeGreaterThan(start + 40_000);
    expect(await sender.runOnce(new Date(start + 1000))).toBe(0);
    expect(await sender.runOnce(new Date(start + 80_000))).toBe(1);
    expect(await sender.runOnce(new Date(start + HOUR))).toBe(1);

    const [delivery] = await deliveryRows();
    expect(delivery).toMatchObject({
      status: 'succeeded',
      attempt_count: 3,
      last_status_code: 200,
      last_error: null,
    });
    const attempts = await attemptRows(delivery!.id);
    expect(attempts.map((a) => [a.attempt, a.status_code])).toEqual([
      [1, 500],
      [2, 500],
      [3, 200],
    ]);
    for (const attempt of attempts) expect(attempt.latency_ms).toBeGreaterThanOrEqual(0);
    expect(attempts[0]!.error).toMatch(/HTTP 500/);
    expect(new Set(receiver.received.map((r) => r.headers['webhook-id']))).toEqual(new Set([delivery!.id]));
    expect(JSON.parse(receiver.received[0]!.body).data).toMatchObject({ value: ['not', 'an', 'object'] });
    // Each attempt is signed at its own timestamp, all with the one secret.
    for (const r of receiver.received)
      expect(verifyStandardWebhook(secret, r.headers, r.body, (2 * HOUR) / 1000)).toBe(true);
  });

  it('refuses a private address unless allowed: the refusal is an attempt, not retried', async () => {
    receiver = await startReceiver([200]);
    const { webhook } = await service.create(ada, { name: 'local', url: receiver.url, eventTypes: ['*'] });
    await publish(ada.userId);
    expect(await worker({ allowPrivateNetworks: false }).runOnce()).toBe(1);
    expect(receiver.received).toHaveLength(0);
    const [delivery] = await deliveryRows();
    expect(delivery).toMatchObject({ status: 'failed', attempt_count: 1, last_status_code: null });
    expect(delivery!.last_error).toMatch(/refused to contact 127\.0\.0\.1/);
    expect(await attemptRows(delivery!.id)).toEqual([
      expect.objectContaining({ attempt: 1, status_code: null, error: expect.stringMatching(/loopback/) }),
    ]);
    expect((await service.get(ada, webhook.id)).failureCount).toBe(1);
    expect(await worker({ allowPrivateNetworks: false }).runOnce(new Date(Date.now() + HOUR))).toBe(0);
    // Listed hosts are exempt.
    await service.redeliver(ada, delivery!.id);
    expect(await worker({ allowPrivateNetworks: false, allowedHosts: ['127.0.0.1'] }).runOnce()).toBe(1);
    expect(receiver.received).toHaveLength(1);
  });

  it('gives up after maxAttempts, and a redelivery starts a new round numbered after the old', async () => {
    receiver = await startReceiver([503, 503, 503, 204]);
    const { webhook } = await service.create(ada, {
      name: 'down',
      url: receiver.url,
      eventTypes: ['run.completed'],
    });
    await publish(ada.userId);
    const sender = worker({ maxAttempts: 3 });
    let at = Date.now();
    for (let i = 0; i < 3; i++) expect(await sender.runOnce(new Date((at += HOUR)))).toBe(1);
    expect(await sender.runOnce(new Date((at += HOUR)))).toBe(0);
    const [failed] = await deliveryRows();
    expect(failed).toMatchObject({
      status: 'failed',
      attempt_count: 3,
      last_status_code: 503,
      next_attempt_at: null,
    });
    expect((await service.get(ada, webhook.id)).failureCount).toBe(1);

    // Another user can neither see nor redeliver it.
    await expect(service.delivery(bob, failed!.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(service.redeliver(bob, failed!.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(service.deliveries(bob, webhook.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });

    expect(await service.redeliver(ada, failed!.id)).toMatchObject({ status: 'pending', attemptCount: 0 });
    expect(await sender.runOnce()).toBe(1);
    const detail = await service.delivery(ada, failed!.id);
    expect(detail).toMatchObject({ status: 'succeeded', attemptCount: 1, lastStatusCode: 204 });
    expect(detail.attempts.map((a) => [a.attempt, a.statusCode])).toEqual([
      [1, 503],
      [2, 503],
      [3, 503],
      [4, 204],
    ]);
    expect((await service.get(ada, webhook.id)).failureCount).toBe(0);
    expect(await service.deliveries(ada, webhook.id, { status: 'succeeded' })).toHaveLength(1);
    expect(await service.deliveries(ada, webhook.id, { status: 'failed' })).toHaveLength(0);
  });

  it("reclaims a delivery whose sender's lease ran out, and holds a disabled webhook's deliveries", async () => {
    receiver = await startReceiver([200]);
    const { webhook } = await service.create(ada, { name: 'w', url: receiver.url, eventTypes: ['*'] });
    await publish(ada.userId);
    const [delivery] = await deliveryRows();
    const lease = new Date(Date.now() + 60_000).toISOString();
    await store.handle.db
      .updateTable('webhook_deliveries')
      .set({ status: 'delivering', next_attempt_at: lease })
      .execute();
    expect(await worker().runOnce()).toBe(0); // someone holds it
    await service.update(ada, webhook.id, { active: false });
    expect(await worker().runOnce(new Date(Date.now() + 120_000))).toBe(0); // disabled: it waits
    await service.update(ada, webhook.id, { active: true });
    expect(await worker().runOnce(new Date(Date.now() + 120_000))).toBe(1);
    expect((await service.delivery(ada, delivery!.id)).status).toBe('succeeded');
  });

  it('stops at 410 Gone and disables the webhook, as Standard Webhooks asks', async () => {
    receiver = await startReceiver([410]);
    const { webhook } = await service.create(ada, { name: 'gone', url: receiver.url, eventTypes: ['*'] });
    await publish(ada.userId);
    expect(await worker().runOnce()).toBe(1);
    const [delivery] = await deliveryRows();
    expect(delivery).toMatchObject({ status: 'failed', attempt_count: 1, last_status_code: 410 });
    expect(await service.get(ada, webhook.id)).toMatchObject({ active: false, failureCount: 1 });
    expect((await publish(ada.userId)).queued).toBe(0);
  });

  it('never sends one delivery twice when several workers claim at once', async () => {
    receiver = await startReceiver([200]);
    for (let i = 0; i < 4; i++)
      await service.create(ada, { name: `w${i}`, url: receiver.url, eventTypes: ['*'] });
    for (let i = 0; i < 5; i++) await publish(ada.userId);
    const workers = [worker({ batchSize: 3 }), worker({ batchSize: 3 }), worker({ batchSize: 3 })];
    let sent = 0;
    for (let round = 0; round < 10 && sent < 20; round++)
      sent += (await Promise.all(workers.map((w) => w.runOnce()))).reduce((a, b) => a + b, 0);
    expect(sent).toBe(20);
    expect(receiver.received).toHaveLength(20);
    expect(new Set(receiver.received.map((r) => r.headers['webhook-id'])).size).toBe(20);
    expect((await deliveryRows()).every((d) => d.status === 'succeeded' && d.attempt_count === 1)).toBe(true);
  });

  it('sends on its own once started, woken by new deliveries', async () => {
    receiver = await startReceiver([200]);
    await service.create(ada, { name: 'w', url: receiver.url, eventTypes: ['*'] });
    const running = worker({ pollMs: 60_000 });
    running.start();
    // On PostgreSQL the wake-up is a NOTIFY: one sent before LISTEN is set up is not heard.
    await running.listening();
    try {
      await publish(ada.userId);
      const deadline = Date.now() + 5000;
      while (receiver.received.length === 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      expect(receiver.received).toHaveLength(1);
    } finally {
      await running.stop();
    }
  });
});
