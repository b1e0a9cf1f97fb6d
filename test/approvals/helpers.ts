import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import pino from 'pino';
import { generateApiKey } from '../../src/auth/index.js';
import { loadConfig, type Config } from '../../src/config/index.js';
import { Engine } from '../../src/engine/index.js';
import { Registry } from '../../src/registry/index.js';
import { openKeyring, type Keyring } from '../../src/secrets/index.js';
import { buildApp } from '../../src/server/index.js';
import { Store, type Caller, type Role } from '../../src/storage/index.js';
import { createWorker, type Worker } from '../../src/worker/index.js';
import { createTestDatabase, type TestDatabase, type TestDialect } from '../helpers/databases.js';
import { until } from '../helpers/until.js';

export interface Person {
  readonly id: string;
  readonly email: string;
  readonly key: string;
  readonly caller: Caller;
}

/** One server process as the tests see it: a store of its own, an app and a worker on it. */
export interface Node {
  readonly store: Store;
  readonly engine: Engine;
  readonly app: FastifyInstance;
  readonly worker: Worker;
  stop(): Promise<void>;
}

/**
 * A database with three people (alice and bob, members; root, an admin) and any number of
 * in-process "servers" on it, each with its own connections, app and worker: two of them racing
 * is two server processes racing, as far as the database can tell.
 */
export interface ApprovalsFixture {
  readonly testDb: TestDatabase;
  readonly config: Config;
  readonly keyring: Keyring;
  readonly people: Record<'alice' | 'bob' | 'root', Person>;
  readonly nodes: Node[];
  /**
   * A new node with connections of its own; on SQLite, one `sharing` another's store instead:
   * better-sqlite3 waits for a busy database synchronously, so two connections in one process
   * would block the very event loop the lock holder needs to finish.
   */
  start(sharing?: Node): Promise<Node>;
  /** Starts a run of a new workflow of alice's with these steps, on `node`. */
  startRun(node: Node, steps: Array<Record<string, unknown>>): Promise<string>;
  /** The run once it ended. */
  finished(node: Node, runId: string): Promise<Awaited<ReturnType<Engine['getRun']>>>;
  /** The run's approval once its step waits on it. */
  waitingApproval(node: Node, runId: string, as?: Person): Promise<{ id: string } & Record<string, unknown>>;
  call(
    node: Node,
    method: 'GET' | 'POST',
    url: string,
    as: Person,
    payload?: object,
    headers?: Record<string, string>,
  ): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export async function approvalsFixture(dialect: TestDialect): Promise<ApprovalsFixture> {
  const testDb = await createTestDatabase(dialect);
  const config = loadConfig({
    DATABASE_URL: testDb.url,
    SWARM_HOME: path.join(testDb.dir, 'home'),
    SWARM_MASTER_KEY: randomBytes(32).toString('base64'),
    SWARM_PUBLIC_URL: 'https://swarm.example.com',
  });
  const keyring = openKeyring(config);
  const setup = await Store.open(testDb.url);
  const people = {} as Record<'alice' | 'bob' | 'root', Person>;
  for (const [name, role] of [
    ['alice', 'member'],
    ['bob', 'member'],
    ['root', 'admin'],
  ] as const) {
    const user = (await setup.system.insertUserIfAbsent({ name, email: `${name}@example.com`, role }))!;
    const caller: Caller = { userId: user.id, role: role as Role };
    const generated = generateApiKey();
    await setup.as(caller).apiKeys.create({
      name: 'k',
      prefix: generated.prefix,
      hash: generated.hash,
      scopes: ['*'],
    });
    people[name] = { id: user.id, email: user.email, key: generated.key, caller };
  }
  await setup.close();

  const nodes: Node[] = [];
  let counter = 0;
  const fixture: ApprovalsFixture = {
    testDb,
    config,
    keyring,
    people,
    nodes,
    async start(sharing) {
      const shared = sharing !== undefined && dialect === 'sqlite';
      const store = shared ? sharing.store : await Store.open(testDb.url, { migrate: false });
      const engine = new Engine(store);
      const worker = createWorker(store, engine, config, pino({ level: 'silent' }), {
        keyring,
        concurrency: 4,
      });
      const app = await buildApp({
        store,
        engine,
        keyring,
        rateLimits: false,
        onRunStarted: () => worker.notify(),
      });
      worker.start();
      let stopped = false;
      const node: Node = {
        store,
        engine,
        app,
        worker,
        async stop() {
          if (stopped) return;
          stopped = true;
          nodes.splice(nodes.indexOf(node), 1);
          await app.close();
          await worker.stop(2000);
          if (!shared) await store.close();
        },
      };
      nodes.push(node);
      return node;
    },
    async startRun(node, steps) {
      const registry = new Registry(node.store);
      const { workflows, agents } = registry.as(people.alice.caller);
      const { workflow } = await workflows.apply({ name: `approve${++counter}`, version: '1.0.0', steps });
      const id = await node.engine.startRun(people.alice.caller, workflow, agents, { input: {} });
      node.worker.notify();
      return id;
    },
    finished: (node, runId) =>
      until(`run ${runId} to end`, async () => {
        const run = await node.engine.getRun(people.alice.caller, runId);
        return ['completed', 'failed', 'cancelled', 'timeout'].includes(run.status) ? run : undefined;
      }),
    waitingApproval: (node, runId, as = people.alice) =>
      until(`an approval of run ${runId}`, async () => {
        const page = await fixture.call(node, 'GET', '/api/v1/approvals', as);
        const items = page.json().items as Array<{ id: string; runId: string }>;
        return items.find((a) => a.runId === runId);
      }),
    call: (node, method, url, as, payload, headers = {}) =>
      node.app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${as.key}`, ...headers },
        ...(payload === undefined ? {} : { payload }),
      }),
    async close() {
      for (const node of [...nodes]) await node.stop();
      await testDb.drop();
    },
  };
  return fixture;
}

/** A review step and a step after it that shows what the review output. */
export function reviewSteps(input: Record<string, unknown>): Array<Record<string, unknown>> {
  return [
    { id: 'review', agent: 'builtin/approval', input },
    {
      id: 'after',
      agent: 'builtin/transform',
      needs: ['review'],
      input: { review: '{{ steps.review.output }}' },
    },
  ];
}
