import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { openKeyring } from '../../src/secrets/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { newId } from '../../src/storage/index.js';
import { createDeliveries, DeliveryWorker } from '../../src/webhooks/index.js';
import { cli } from '../helpers/cli.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { startReceiver, verifyStandardWebhook } from './receiver.js';

describe.each(DIALECTS)('swarm webhooks on %s', (dialect) => {
  let testDb: TestDatabase;
  let server: RunningServer | undefined;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let env: NodeJS.ProcessEnv;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    receiver = await startReceiver([500, 200]);
    const base = {
      DATABASE_URL: testDb.url,
      SWARM_HOME: path.join(testDb.dir, 'home'),
      SWARM_MASTER_KEY: randomBytes(32).toString('base64'),
    };
    server = await startServer(
      loadConfig({
        ...base,
        SWARM_PORT: '0',
        SWARM_LOG_LEVEL: 'silent',
        SWARM_WORKER: 'false',
        SWARM_EXAMPLES: 'false',
        // The test sends deliveries itself, one attempt at a time.
        SWARM_TRIGGERS: 'false',
      }),
    );
    env = { ...base, SWARM_URL: server.url };
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await receiver.close();
    await testDb.drop();
  });

  async function deliver(now = new Date()) {
    return new DeliveryWorker({
      store: server!.store,
      keyring: openKeyring(loadConfig(env), { warn: () => {} }),
      logger: pino({ level: 'silent' }),
      allowPrivateNetworks: true,
    }).runOnce(now);
  }

  it('creates, lists, shows, disables, follows deliveries, redelivers and removes', async () => {
    const created = await cli(
      [
        'webhooks',
        'create',
        'ops',
        '--url',
        receiver.url,
        '--events',
        'run.*, task.failed',
        '--description',
        'ops',
      ],
      env,
    );
    expect(created.code, created.stderr).toBe(0);
    const [, id] = /^created webhook ops \((\S+)\)$/m.exec(created.stdout)!;
    const [, secret] = /signing secret .*: (whsec_\S+)$/m.exec(created.stdout)!;

    const list = await cli(['webhooks', 'list'], env);
    expect(list.stdout.split('\n')[0]).toMatch(/^ID +NAME +ACTIVE +EVENTS +FAILURES +URL$/);
    expect(list.stdout).toContain(`${id}  ops   yes     run.*,task.failed`);
    expect(list.stdout).not.toContain(secret);
    const shown = JSON.parse((await cli(['webhooks', 'show', id!, '--json'], env)).stdout);
    expect(shown).toMatchObject({ id, name: 'ops', eventTypes: ['run.*', 'task.failed'], active: true });
    expect(JSON.stringify(shown)).not.toContain(secret!);

    expect((await cli(['webhooks', 'disable', id!], env)).stdout).toBe(`disabled webhook ops (${id})\n`);
    expect(JSON.parse((await cli(['webhooks', 'show', id!, '--json'], env)).stdout).active).toBe(false);
    expect((await cli(['webhooks', 'enable', id!, '--json'], env)).stdout).toMatch(/"active":true/);

    const admin = (await server!.store.system.findFirstAdmin())!;
    const event = {
      id: newId(),
      ownerId: admin.id,
      source: 'swarm',
      type: 'run.completed',
      payload: { run_id: 'r1' },
      createdAt: new Date().toISOString(),
    };
    await server!.store.dialect.writeTransaction(server!.store.handle.db, (trx) =>
      createDeliveries(trx, server!.store.dialect, event),
    );
    expect(await deliver()).toBe(1); // 500
    const pending = JSON.parse(
      (await cli(['webhooks', 'deliveries', id!, '--status', 'pending', '--json'], env)).stdout,
    );
    expect(pending).toEqual([
      expect.objectContaining({ status: 'pending', attemptCount: 1, lastStatusCode: 500 }),
    ]);
    const deliveryId: string = pending[0].id;
    expect(await deliver(new Date(Date.now() + 3_600_000))).toBe(1); // 200

    const table = await cli(['webhooks', 'deliveries', id!], env);
    expect(table.stdout).toMatch(new RegExp(`^${deliveryId} +run\\.completed +succeeded +2 +200 `, 'm'));
    const shownDelivery = await cli(['webhooks', 'delivery', deliveryId], env);
    expect(shownDelivery.stdout).toMatch(/^status: +succeeded$/m);
    expect(shownDelivery.stdout).toMatch(/^1 +500 +\d+ ms +\S+ +HTTP 500: receiver says no/m);
    expect(shownDelivery.stdout).toMatch(/^2 +200 +\d+ ms/m);

    const redeliver = await cli(['webhooks', 'redeliver', deliveryId], env);
    expect(redeliver).toMatchObject({ code: 0, stdout: `redelivering ${deliveryId}: pending\n` });
    expect(await deliver()).toBe(1);
    const detail = JSON.parse((await cli(['webhooks', 'delivery', deliveryId, '--json'], env)).stdout);
    expect(detail.attempts.map((a: { attempt: number }) => a.attempt)).toEqual([1, 2, 3]);
    const last = receiver.received.at(-1)!;
    expect(verifyStandardWebhook(secret!, last.headers, last.body)).toBe(true);

    expect((await cli(['webhooks', 'rm', id!], env)).stdout).toBe(`deleted webhook ${id}\n`);
    const gone = await cli(['webhooks', 'show', id!], env);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toBe(`swarm: webhook not found: ${id} [NOT_FOUND]\n`);
  });

  it('reports bad input naming the field', async () => {
    const bad = await cli(['webhooks', 'create', 'x', '--url', 'ftp://example.com', '--events', 'a'], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^swarm: url: must be an http or https URL, not ftp: \[INPUT_INVALID\]$/m);
    const noEvents = await cli(
      ['webhooks', 'create', 'x', '--url', 'https://example.com', '--events', ','],
      env,
    );
    expect(noEvents.stderr).toMatch(/^swarm: --events: /);
    expect((await cli(['webhooks', 'list', '--json'], env)).stdout).toBe('[]\n');
  });
});
