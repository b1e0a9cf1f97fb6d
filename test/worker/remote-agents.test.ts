/**
 * Remote (http) agents end to end: a real node:http server in the test plays the agent, with its
 * own Ed25519 key pair; the API registers it, a real Worker sends it tasks, the sweep and the
 * heartbeat route move its status.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bootstrapAdmin } from '../../src/auth/index.js';
import { loadConfig } from '../../src/config/index.js';
import { Engine } from '../../src/engine/index.js';
import { Registry } from '../../src/registry/index.js';
import { manifestSigningPayload } from '../../src/registry/agent/index.js';
import { markSilentAgents } from '../../src/routing/index.js';
import { SigningKey } from '../../src/runtimes/index.js';
import { buildApp } from '../../src/server/index.js';
import { Store, type Caller } from '../../src/storage/index.js';
import { createWorker, type Worker } from '../../src/worker/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { validOf } from '../registry/agent/helpers.js';
import { until } from '../helpers/until.js';

/** How the test agent answers. */
type Mode = 'ok' | 'wrong-signature' | 'unsigned';

interface Received {
  body: Record<string, unknown>;
  /** Whether X-Swarm-Signature verified with the key GET /api/v1/signing-key served. */
  swarmSignatureValid: boolean;
}

/** A remote agent: answers `{output: {echo: input}}`, signed with its own key (or not, by mode). */
class RemoteAgent {
  readonly keys = generateKeyPairSync('ed25519');
  readonly received: Received[] = [];
  mode: Mode = 'ok';
  swarmKey: KeyObject | null = null;
  private server = http.createServer((req, res) => void this.handle(req, res));

  get publicKey(): string {
    return this.keys.publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('base64');
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/task`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const timestamp = String(req.headers['x-swarm-timestamp']);
    const signature = Buffer.from(String(req.headers['x-swarm-signature']), 'base64');
    const swarmSignatureValid =
      this.swarmKey !== null &&
      verify(null, Buffer.from(`${timestamp}.${raw.toString()}`), this.swarmKey, signature);
    const body = JSON.parse(raw.toString()) as Record<string, unknown>;
    this.received.push({ body, swarmSignatureValid });
    const answer = Buffer.from(JSON.stringify({ output: { echo: body.input } }));
    const signer =
      this.mode === 'wrong-signature' ? generateKeyPairSync('ed25519').privateKey : this.keys.privateKey;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.mode !== 'unsigned')
      headers['x-agent-signature'] = sign(
        null,
        Buffer.from(`${timestamp}.${answer.toString()}`),
        signer,
      ).toString('base64');
    res.writeHead(200, headers).end(answer);
  }
}

describe.each(DIALECTS)('remote (http) agents on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let engine: Engine;
  let registry: Registry;
  let caller: Caller;
  let key: string;
  let app: FastifyInstance;
  let agent: RemoteAgent;
  let endpoint: string;
  let worker: Worker | undefined;
  const signingKey = SigningKey.generate();

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    engine = new Engine(store);
    registry = new Registry(store);
    const boot = (await bootstrapAdmin(store, testDb.dir, 'http://x'))!;
    key = boot.key;
    caller = { userId: boot.user.id, role: boot.user.role };
    app = await buildApp({ store, engine, signingKey });
    agent = new RemoteAgent();
    endpoint = await agent.listen();
  });
  afterEach(async () => {
    await worker?.stop(1000);
    worker = undefined;
    await agent.close();
    await app.close();
    await store.close();
    await testDb.drop();
  });

  const call = (method: 'GET' | 'POST', url: string, payload?: unknown, auth = true) =>
    app.inject({
      method,
      url,
      headers: auth ? { authorization: `Bearer ${key}` } : {},
      ...(payload === undefined ? {} : { payload: payload as object }),
    });

  /** The manifest of the test agent, signed with `signer` (the agent's own key by default). */
  function manifest(name: string, signer: KeyObject = agent.keys.privateKey): Record<string, unknown> {
    const doc = {
      name,
      version: '1.0.0',
      type: 'execution',
      capabilities: ['remote:echo'],
      runtime: { type: 'http', endpoint, public_key: agent.publicKey },
    };
    const signature = sign(null, manifestSigningPayload(validOf(doc)), signer).toString('base64');
    return { ...doc, runtime: { ...doc.runtime, signature } };
  }

  async function register(name: string): Promise<void> {
    const res = await call('POST', '/api/v1/agents', manifest(name));
    expect(res.statusCode, res.body).toBe(201);
  }

  function startWorker(): void {
    const config = loadConfig({
      DATABASE_URL: testDb.url,
      SWARM_HOME: testDb.dir,
      SWARM_ALLOW_PRIVATE_NETWORKS: 'true',
    });
    worker = createWorker(store, engine, config, pino({ level: 'silent' }), { concurrency: 2, signingKey });
    worker.start();
  }

  async function run(agentName: string, input: unknown) {
    await registry.as(caller).workflows.apply({
      name: `w-${agentName}`,
      version: '1.0.0',
      steps: [
        {
          id: 'only',
          agent: `${agentName}@1.0.0`,
          input,
          retry: { max_attempts: 3, backoff: 'fixed', initial_delay_ms: 100 },
        },
      ],
    });
    const { workflows, agents } = registry.as(caller);
    const id = await engine.startRun(caller, await workflows.get(`w-${agentName}`), agents, { input });
    worker?.notify();
    const view = await until(`run ${id} to end`, async () => {
      const v = await engine.getRun(caller, id);
      return ['completed', 'failed', 'cancelled', 'timeout'].includes(v.status) ? v : undefined;
    });
    const [task] = await store.handle.db.selectFrom('tasks').selectAll().where('run_id', '=', id).execute();
    return { view, task: task! };
  }

  it('serves the signing key publicly, accepts a signed registration and refuses a bad signature', async () => {
    const served = await call('GET', '/api/v1/signing-key', undefined, false);
    expect(served.statusCode, served.body).toBe(200);
    expect(served.json()).toEqual({ algorithm: 'ed25519', public_key: signingKey.publicKeyBase64() });
    expect(Buffer.from(served.json<{ public_key: string }>().public_key, 'base64')).toHaveLength(32);

    await register('remote-echo');
    const forged = await call(
      'POST',
      '/api/v1/agents',
      manifest('forged', generateKeyPairSync('ed25519').privateKey),
    );
    expect(forged.statusCode).toBe(400);
    expect(forged.body).toContain('runtime.signature');
    expect(forged.body).toContain('does not verify');
    const listed = await call('GET', '/api/v1/agents/forged');
    expect(listed.statusCode).toBe(404);
  });

  it('runs a step on the remote agent: Swarm signs the task, the signed answer is the output', async () => {
    const served = (await call('GET', '/api/v1/signing-key', undefined, false)).json<{
      public_key: string;
    }>();
    agent.swarmKey = createPublicKey({
      key: Buffer.concat([
        Buffer.from('302a300506032b6570032100', 'hex'),
        Buffer.from(served.public_key, 'base64'),
      ]),
      format: 'der',
      type: 'spki',
    });
    await register('remote-echo');
    startWorker();
    const { view, task } = await run('remote-echo', { text: 'hello' });
    expect(view).toMatchObject({ status: 'completed', result: { only: { echo: { text: 'hello' } } } });
    expect(agent.received).toHaveLength(1);
    expect(agent.received[0]!.swarmSignatureValid).toBe(true);
    expect(agent.received[0]!.body).toMatchObject({
      task_id: task.id,
      run_id: view.id,
      step_id: 'only',
      attempt: 1,
      input: { text: 'hello' },
    });
  });

  it.each([
    ['wrong-signature', 'X-Agent-Signature does not verify'],
    ['unsigned', 'no X-Agent-Signature header'],
  ] as const)('refuses an answer that is %s, without retrying, and keeps no output', async (mode, why) => {
    agent.mode = mode;
    await register('remote-echo');
    startWorker();
    const { view, task } = await run('remote-echo', { text: 'hello' });
    expect(view.status).toBe('failed');
    expect(task).toMatchObject({ status: 'FAILED', retry_count: 0, result_data: null });
    expect(task.error_message).toContain('result signature invalid');
    expect(task.error_message).toContain(why);
    expect(agent.received).toHaveLength(1);
  });

  it('marks a silent agent inactive, out of routing, and a heartbeat brings it back', async () => {
    await register('remote-echo');
    const status = async () =>
      await store.handle.db
        .selectFrom('agents')
        .select(['status', 'last_seen_at'])
        .where('name', '=', 'remote-echo')
        .executeTakeFirstOrThrow();
    // Not silent yet: registered just now.
    expect(await markSilentAgents(store, new Date(), 90)).toEqual([]);
    const marked = await markSilentAgents(store, new Date(Date.now() + 91_000), 90);
    expect(marked.map((a) => a.name)).toEqual(['remote-echo']);
    expect((await status()).status).toBe('inactive');
    // Not active, so routing (which takes only active agents) offers it no work.
    expect(
      (await call('GET', '/api/v1/agents?capability=remote:echo&status=active')).json<{ items: unknown[] }>()
        .items,
    ).toEqual([]);

    const beat = await call('POST', '/api/v1/agents/remote-echo/heartbeat', { version: '1.0.0' });
    expect(beat.statusCode, beat.body).toBe(200);
    expect(beat.json()).toEqual({ versions: ['1.0.0'], reactivated: ['1.0.0'] });
    const after = await status();
    expect(after.status).toBe('active');
    expect(after.last_seen_at).not.toBeNull();
    // Counted from the heartbeat now: still alive a minute later, silent after 90 s.
    const seen = new Date(String(after.last_seen_at));
    expect(await markSilentAgents(store, new Date(seen.getTime() + 60_000), 90)).toEqual([]);
    expect(await markSilentAgents(store, new Date(seen.getTime() + 91_000), 90)).toHaveLength(1);

    expect((await call('POST', '/api/v1/agents/nobody/heartbeat', {})).statusCode).toBe(404);
    expect((await call('POST', '/api/v1/agents/remote-echo/heartbeat', {}, false)).statusCode).toBe(401);
  });

  it('the worker sweeps silent agents by itself with SWARM_AGENT_SILENT_AFTER', async () => {
    await register('remote-echo');
    // Registered two minutes ago and never heard from since.
    await store.handle.db
      .updateTable('agents')
      .set({ created_at: new Date(Date.now() - 120_000).toISOString() })
      .where('name', '=', 'remote-echo')
      .execute();
    const config = loadConfig({
      DATABASE_URL: testDb.url,
      SWARM_HOME: testDb.dir,
      SWARM_AGENT_SILENT_AFTER: '60',
    });
    expect(config.agentSilentAfterSeconds).toBe(60);
    worker = createWorker(store, engine, config, pino({ level: 'silent' }), { signingKey });
    worker.start();
    await until(
      'the sweep',
      async () =>
        (
          await store.handle.db
            .selectFrom('agents')
            .select('status')
            .where('name', '=', 'remote-echo')
            .executeTakeFirstOrThrow()
        ).status === 'inactive',
      10_000,
    );
  }, 15_000);
});
