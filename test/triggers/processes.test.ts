import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bootstrapAdmin } from '../../src/auth/index.js';
import { Registry } from '../../src/registry/index.js';
import { Store } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { until } from '../helpers/until.js';

// Real server processes, as `swarm start` runs them (npm test builds dist/ first).
const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli/main.js');

interface Server {
  readonly child: ChildProcess;
  readonly output: { text: string };
  readonly url: string;
}

describe.each(DIALECTS)('triggers across server processes on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  const children: ChildProcess[] = [];
  const masterKey = randomBytes(32).toString('base64');

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
  });
  afterEach(async () => {
    for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
    await store.close();
    await testDb.drop();
  });

  async function start(env: Record<string, string> = {}): Promise<Server> {
    const output = { text: '' };
    const child = spawn(process.execPath, [MAIN, 'start'], {
      env: {
        PATH: process.env.PATH,
        SWARM_HOME: path.join(testDb.dir, 'home'),
        SWARM_PORT: '0',
        SWARM_LOG_LEVEL: 'warn',
        SWARM_EXAMPLES: 'false',
        SWARM_MASTER_KEY: masterKey,
        DATABASE_URL: testDb.url,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    child.stdout!.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
    const url = await until(
      'the server to listen',
      async () => {
        if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}:\n${output.text}`);
        return /listening on (http:\/\/\S+)/.exec(output.text)?.[1];
      },
      30_000,
    );
    return { child, output, url };
  }

  const exited = (child: ChildProcess) =>
    new Promise<number | null>((resolve) =>
      child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code)),
    );

  async function admin() {
    const bootstrapped = (await bootstrapAdmin(store, path.join(testDb.dir, 'admin'), 'http://x'))!;
    return { caller: { userId: bootstrapped.user.id, role: bootstrapped.user.role }, key: bootstrapped.key };
  }

  it.skipIf(dialect !== 'postgres')(
    'two server processes on one database fire each tick of a seconds-level schedule exactly once',
    async () => {
      const { caller } = await admin();
      await new Registry(store).as(caller).workflows.apply({
        name: 'every-second',
        version: '1.0.0',
        trigger: { type: 'schedule', cron: '* * * * * *' },
        steps: [{ id: 'a', agent: 'builtin/transform', input: { at: '{{ trigger.scheduled_for }}' } }],
      });
      const [one, two] = await Promise.all([start(), start()]);
      const first = await until('the first tick', async () =>
        store.handle.db.selectFrom('trigger_firings').select('id').executeTakeFirst(),
      );
      expect(first).toBeDefined();
      // A short window with both schedulers live.
      await new Promise((resolve) => setTimeout(resolve, 4000));
      one.child.kill('SIGTERM');
      two.child.kill('SIGTERM');
      expect(await exited(one.child)).toBe(0);
      expect(await exited(two.child)).toBe(0);

      const firings = await store.handle.db
        .selectFrom('trigger_firings')
        .selectAll()
        .orderBy('scheduled_for')
        .execute();
      const started = firings.filter((f) => f.status === 'started');
      expect(started.length).toBeGreaterThanOrEqual(4);
      const ticks = started.map((f) => Date.parse(String(f.scheduled_for)));
      // Once each: no tick twice …
      expect(new Set(ticks).size).toBe(ticks.length);
      // … and none lost: consecutive seconds from the first to the last.
      for (let i = 1; i < ticks.length; i++) expect(ticks[i]! - ticks[i - 1]!).toBe(1000);
      const runs = await store.handle.db
        .selectFrom('workflow_runs')
        .select(['id', 'trigger_data'])
        .where('trigger_type', '=', 'schedule')
        .execute();
      expect(runs).toHaveLength(started.length);
      expect(new Set(runs.map((r) => JSON.parse(r.trigger_data!).scheduled_for)).size).toBe(runs.length);
    },
    60_000,
  );

  it('an event published to a server killed before dispatching it is dispatched after a restart', async () => {
    const { key } = await admin();
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    // The first server publishes but never dispatches (no scheduler or dispatcher in it).
    const first = await start({ SWARM_TRIGGERS: 'false' });
    const applied = await fetch(`${first.url}/api/v1/workflows`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        name: 'on-order',
        version: '1.0.0',
        trigger: { type: 'event', source: 'orders', event_type: 'order.created' },
        steps: [{ id: 'ship', agent: 'builtin/transform', input: { order: '{{ trigger.payload.id }}' } }],
      }),
    });
    expect(applied.status).toBe(201);
    const published = await fetch(`${first.url}/api/v1/events`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ source: 'orders', type: 'order.created', payload: { id: 'A-1' } }),
    });
    expect(published.status).toBe(202);
    const { id } = (await published.json()) as { id: string };
    first.child.kill('SIGKILL');
    await exited(first.child);

    const stored = await store.handle.db
      .selectFrom('events')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(stored.status).toBe('pending');
    expect(await store.handle.db.selectFrom('workflow_runs').select('id').execute()).toHaveLength(0);

    const second = await start();
    const run = await until('the subscribed run to complete', async () => {
      const row = await store.handle.db
        .selectFrom('workflow_runs')
        .selectAll()
        .where('workflow_name', '=', 'on-order')
        .executeTakeFirst();
      return row?.status === 'completed' ? row : undefined;
    });
    expect(run.trigger_type).toBe('event');
    expect(JSON.parse(run.step_results).ship.output).toEqual({ order: 'A-1' });
    const after = await store.handle.db
      .selectFrom('events')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(after.status).toBe('dispatched');
    second.child.kill('SIGTERM');
    expect(await exited(second.child)).toBe(0);
    expect(await store.handle.db.selectFrom('workflow_runs').select('id').execute()).toHaveLength(1);
  }, 60_000);
});
