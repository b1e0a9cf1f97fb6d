import { insertEvents } from '../../src/blobs/index.js';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bootstrapAdmin } from '../../src/auth/index.js';
import { loadConfig } from '../../src/config/index.js';
import { Engine } from '../../src/engine/index.js';
import { Registry } from '../../src/registry/index.js';
import { openKeyring } from '../../src/secrets/index.js';
import { buildApp, startServer } from '../../src/server/index.js';
import { Store, type Caller } from '../../src/storage/index.js';
import {
  EventDispatcher,
  Scheduler,
  signPayload,
  syncTriggers,
  type SyncedTrigger,
} from '../../src/triggers/index.js';
import { cli } from '../helpers/cli.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

/**
 * A run whose first step's expression fails on the data it is started with is the starter's
 * bad input: 400 naming the step and the field, nothing stored. Triggers record the firing as
 * failed (schedules, events) or answer 400 (webhooks), and start nothing.
 */
describe.each(DIALECTS)('an expression failing at run start on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let engine: Engine;
  let app: FastifyInstance;
  let key: string;
  let caller: Caller;
  const keyring = openKeyring(loadConfig({ SWARM_MASTER_KEY: randomBytes(32).toString('base64') }));

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    const admin = (await bootstrapAdmin(store, testDb.dir, 'http://x'))!;
    key = admin.key;
    caller = { userId: admin.user.id, role: admin.user.role };
    engine = new Engine(store);
    app = await buildApp({ store, engine, keyring });
  });
  afterEach(async () => {
    await app.close();
    await store.close();
    await testDb.drop();
  });

  async function apply(definition: Record<string, unknown>) {
    const { workflow } = await new Registry(store)
      .as(caller)
      .workflows.apply({ version: '1.0.0', ...definition });
    return (await syncTriggers(store, keyring, caller, [workflow]))[0];
  }
  const count = async (table: 'workflow_runs' | 'tasks' | 'trigger_firings') =>
    Number(
      (
        await store.handle.db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  const start = (name: string, input: unknown) =>
    app.inject({
      method: 'POST',
      url: `/api/v1/workflows/${name}/runs`,
      headers: { authorization: `Bearer ${key}` },
      payload: { input },
    });

  // Each fails on `{ n: "a" }`; with `{ n: 1 }` the first two start, and the for_each is no list.
  it.each([
    ['input', { input: { n: '{{ trigger.n + 1 }}' } }, /failed: .*must evaluate to a number/, 202],
    ['when', { when: 'trigger.n > 0' }, /failed: .*same data type/, 202],
    ['for_each', { for_each: 'trigger.n' }, /is not a list \(got string\)/, 400],
  ])('API: %s → 400 problem+json naming the step and field, and no run', async (field, more, reason, ok) => {
    await apply({
      name: 'greeting',
      steps: [{ id: 'greet', agent: 'builtin/transform', input: {}, ...more }],
    });
    const res = await start('greeting', { n: 'a' });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const problem = res.json();
    expect(problem).toMatchObject({ status: 400, code: 'INPUT_INVALID' });
    expect(problem.detail).toMatch(new RegExp(`^steps\\.greet\\.${field}: ${field} of step "greet" `));
    expect(problem.detail).toMatch(reason);
    expect(await count('workflow_runs')).toBe(0);
    expect(await count('tasks')).toBe(0);
    // The same workflow with good data starts.
    expect((await start('greeting', { n: 1 })).statusCode).toBe(ok);
  });

  it('a webhook whose run cannot start answers 400 and starts nothing', async () => {
    const hook = (await apply({
      name: 'on-order',
      trigger: { type: 'webhook', path: 'orders' },
      steps: [{ id: 'take', agent: 'builtin/transform', input: { total: '{{ $number(trigger.total) }}' } }],
    })) as SyncedTrigger;
    const deliver = (body: string) =>
      app.inject({
        method: 'POST',
        url: '/hooks/orders',
        payload: body,
        headers: { 'content-type': 'application/json', 'x-swarm-signature': signPayload(hook.secret!, body) },
      });
    const res = await deliver('{"total":"lots"}');
    expect(res.statusCode).toBe(400);
    expect(res.json().detail).toMatch(/^steps\.take\.input: input of step "take" failed: /);
    expect(await count('workflow_runs')).toBe(0);
    expect(await count('trigger_firings')).toBe(0);
    expect((await deliver('{"total":"12"}')).statusCode).toBe(202);
    expect(await count('workflow_runs')).toBe(1);
  });

  it('a schedule records each tick whose run cannot start as a failed firing; its other ticks start', async () => {
    const at = (second: number) => new Date(Date.UTC(2030, 0, 1, 12, 0, second));
    const trigger = (await apply({
      name: 'ticking',
      trigger: { type: 'schedule', cron: '* * * * * *', misfire: 'catch_up', catch_up_limit: 5 },
      // The tick at second 1 fails its first step's input; seconds 0 and 2 start.
      steps: [
        {
          id: 'a',
          agent: 'builtin/transform',
          input: { at: '{{ $substring(trigger.scheduled_for, 18, 1) = "1" ? $error("odd tick") : "ok" }}' },
        },
      ],
    }))!;
    await store.handle.db
      .updateTable('triggers')
      .set({ next_run_at: at(0).toISOString() })
      .where('id', '=', trigger.id)
      .execute();
    const scheduler = new Scheduler(store, engine, { misfireGraceMs: 60_000 });
    expect(await scheduler.fireDue(new Date(at(2).getTime() + 100))).toBe(2);
    const firings = await store.handle.db
      .selectFrom('trigger_firings')
      .select(['fire_key', 'status', 'error', 'run_id'])
      .orderBy('fire_key')
      .execute();
    expect(firings.map((f) => [f.fire_key, f.status])).toEqual([
      [`tick:${at(0).toISOString()}`, 'started'],
      [`tick:${at(1).toISOString()}`, 'failed'],
      [`tick:${at(2).toISOString()}`, 'started'],
    ]);
    expect(firings[1]!.error).toBe('steps.a.input: input of step "a" failed: odd tick');
    expect(await count('workflow_runs')).toBe(2);
    // The schedule moved on: the same ticks do not fire again.
    expect(await scheduler.fireDue(new Date(at(2).getTime() + 200))).toBe(0);
  });

  it('an event whose run cannot start records a failed firing; the event is dispatched and other triggers start', async () => {
    await apply({
      name: 'strict',
      trigger: { type: 'event', source: 'crm', event_type: 'lead.created' },
      steps: [{ id: 'score', agent: 'builtin/transform', for_each: 'trigger.payload.leads' }],
    });
    await apply({
      name: 'lenient',
      trigger: { type: 'event', source: 'crm', event_type: 'lead.created' },
      steps: [{ id: 'note', agent: 'builtin/transform', input: { leads: '{{ trigger.payload.leads }}' } }],
    });
    const { db, dialect: adapter } = store.handle;
    await insertEvents(db, adapter, [
      { ownerId: caller.userId, source: 'crm', type: 'lead.created', payload: { leads: 'none' } },
    ]);
    expect(await new EventDispatcher(store, engine).dispatchPending()).toEqual({
      dispatched: 1,
      runsStarted: 1,
    });
    const firings = await db
      .selectFrom('trigger_firings')
      .innerJoin('triggers', 'triggers.id', 'trigger_firings.trigger_id')
      .select(['triggers.workflow_name', 'trigger_firings.status', 'trigger_firings.error'])
      .orderBy('triggers.workflow_name')
      .execute();
    expect(firings).toMatchObject([
      { workflow_name: 'lenient', status: 'started', error: null },
      {
        workflow_name: 'strict',
        status: 'failed',
        error: 'steps.score.for_each: for_each of step "score" is not a list (got string)',
      },
    ]);
  });
});

describe.each(DIALECTS)(
  'swarm run with an expression failing at the start, against a server on %s',
  (dialect) => {
    let testDb: TestDatabase;
    let server: Awaited<ReturnType<typeof startServer>>;

    beforeEach(async () => {
      testDb = await createTestDatabase(dialect);
    });
    afterEach(async () => {
      await server.close();
      await testDb.drop();
    });

    it('exits non-zero with the message naming the step and field, and starts nothing', async () => {
      const home = path.join(testDb.dir, 'home');
      server = await startServer(
        loadConfig({
          DATABASE_URL: testDb.url,
          SWARM_HOME: home,
          SWARM_PORT: '0',
          SWARM_LOG_LEVEL: 'silent',
          SWARM_EXAMPLES: 'false',
          SWARM_WORKER: 'false',
        }),
      );
      const env = { SWARM_HOME: home, SWARM_URL: server.url };
      const file = path.join(testDb.dir, 'greet.yaml');
      fs.writeFileSync(
        file,
        [
          'name: greet',
          'version: 1.0.0',
          'steps:',
          '  - id: greet',
          '    agent: builtin/transform',
          '    input: { text: "{{ $uppercase(trigger.name) & 1 + trigger.name }}" }',
        ].join('\n'),
      );
      const res = await cli(['run', file, '--input', '{"name":"ada"}'], env);
      expect(res.code).not.toBe(0);
      expect(res.stderr).toMatch(/steps\.greet\.input: input of step "greet" failed: /);
      const runs = await cli(['runs', 'list', '--json'], env);
      expect(JSON.parse(runs.stdout)).toEqual([]);
    });
  },
);
