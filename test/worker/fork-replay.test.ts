import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { createWorker, type Worker } from '../../src/worker/index.js';
import { idempotencyKeyOf } from '../../src/worker/idempotency.js';
import { DIALECTS } from '../helpers/databases.js';
import { engineFixture, type EngineFixture } from '../engine/helpers.js';
import { until } from '../helpers/until.js';

/** What the local server was sent: per path, the Idempotency-Key header of each request. */
let received: Record<string, Array<string | undefined>> = {};
let server: http.Server;
let base: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const key = req.headers['idempotency-key'];
    (received[path] ??= []).push(Array.isArray(key) ? key[0] : key);
    req.resume();
    req.on('end', () =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ path })),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

/**
 * A fork's replay runs on real workers and sends its side effects with the original's keys:
 * builtin/http_request's Idempotency-Key is the same for the original attempt and the replay,
 * and the steps the fork reused are never sent again.
 */
describe.each(DIALECTS)('replaying side effects on %s', (dialect) => {
  let fx: EngineFixture;
  let worker: Worker;
  beforeEach(async () => {
    received = {};
    fx = await engineFixture(dialect);
    const config = loadConfig({
      DATABASE_URL: fx.testDb.url,
      SWARM_HOME: fx.testDb.dir,
      SWARM_ALLOW_PRIVATE_NETWORKS: 'true',
    });
    worker = createWorker(fx.store, fx.engine, config, pino({ level: 'silent' }), { concurrency: 2 });
    worker.start();
  });
  afterEach(async () => {
    await worker.stop(1000);
    await fx.close();
  });

  const post = (id: string, more: Record<string, unknown> = {}) => ({
    id,
    agent: 'builtin/http_request',
    input: { url: `${base}/${id}`, method: 'POST', body: { step: id } },
    ...more,
  });
  const finished = (id: string) =>
    until(`run ${id} to end`, async () => {
      const run = await fx.engine.getRun(fx.caller, id);
      return ['completed', 'failed', 'cancelled', 'timeout'].includes(run.status) ? run : undefined;
    });

  it('sends the original key again from the replayed step, and nothing from the reused ones', async () => {
    const registry = fx.registry.as(fx.caller);
    const { workflow } = await registry.workflows.apply({
      name: 'payments',
      version: '1.0.0',
      steps: [
        post('charge'),
        post('receipt', { needs: ['charge'] }),
        post('audit', {
          needs: ['receipt'],
          input: { url: `${base}/audit`, method: 'POST', body: {}, idempotency_key: false },
        }),
        post('mine', {
          needs: ['charge'],
          input: { url: `${base}/mine`, method: 'POST', headers: { 'Idempotency-Key': 'my-own' } },
        }),
      ],
    });
    const original = await fx.engine.startRun(fx.caller, workflow, registry.agents, { input: {} });
    worker.notify();
    expect((await finished(original)).status).toBe('completed');

    const id = await fx.engine.forkRun(fx.caller, original, { fromStep: 'receipt' }, registry);
    worker.notify();
    expect(await finished(id)).toMatchObject({
      status: 'completed',
      steps: { charge: { reused_from: original }, mine: { reused_from: original } },
    });

    const receiptKey = idempotencyKeyOf(original, 'any task', 'receipt', null);
    expect(received).toEqual({
      // Reused: sent once, by the original.
      '/charge': [idempotencyKeyOf(original, 'any task', 'charge', null)],
      '/mine': ['my-own'],
      // Replayed: the same key both times; a step that opted out sends none.
      '/receipt': [receiptKey, receiptKey],
      '/audit': [undefined, undefined],
    });
  });
});
