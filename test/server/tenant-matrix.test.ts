/**
 * The tenant matrix (issue 13, item 7): every operation of the app's own OpenAPI document, so a
 * new route is covered by construction, × every kind of caller:
 *
 *   no credentials, a malformed key, a revoked key, an expired key  → 401 (public routes: not 401)
 *   a key lacking the route's scope                                → 403
 *   a viewer on a route its role may not use (every write)         → 403
 *   a member of another owner, with owner A's ids in the path     → 404 (403 where the member role
 *                                                                    never may; PUT by name makes the
 *                                                                    caller's own, so: not 401/403)
 *   owner A, and the admin                                        → not 401/403
 *
 * and no 2xx body shows another owner's ids. Path parameters are filled with the ids of resources
 * owner A made through the API; a route with a parameter this test cannot fill fails, naming it.
 * Nothing may answer 5xx.
 */
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { raise } from '../../src/alerts/index.js';
import { createWaitpoint } from '../../src/queue/index.js';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bootstrapAdmin,
  generateApiKey,
  hashPassword,
  roleAllows,
  type RouteScope,
  type Scope,
} from '../../src/auth/index.js';
import { loadConfig } from '../../src/config/index.js';
import { manifestSigningPayload } from '../../src/registry/agent/index.js';
import { openKeyring } from '../../src/secrets/index.js';
import { buildApp } from '../../src/server/index.js';
import { newId, Store, type Role } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { validOf } from '../registry/agent/helpers.js';

/** Cheap scrypt: the login is only how owner A gets a session to fill `/auth/sessions/{id}` with. */
const CHEAP = { ln: 10, r: 8, p: 1 } as const;
const PASSWORD = 'tenant matrix password';

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

interface Operation {
  readonly method: Method;
  /** As in the document: `/api/v1/runs/{id}`. */
  readonly path: string;
  readonly scope: RouteScope;
  readonly streams: boolean;
  readonly body: unknown;
}

interface OpenApiOperation {
  'x-swarm-scope'?: RouteScope;
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
  responses?: Record<string, { content?: Record<string, unknown> }>;
}

interface JsonSchema {
  type?: string | string[];
  required?: string[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  minLength?: number;
  minItems?: number;
  format?: string;
}

/**
 * Bodies that reach the handler (so another owner's ids get their 404, not a 400), where a
 * body made from the schema's required fields would not.
 */
const BODIES: Record<string, unknown> = {
  'PATCH /api/v1/agents/{name}': { status: 'active' },
  'PATCH /api/v1/workflows/{name}': { enabled: true },
  'PATCH /api/v1/scheduled-tasks/{id}': { active: true },
  'PATCH /api/v1/webhooks/{id}': { active: true },
  'PATCH /api/v1/connectors/{ref}': { config: { base_url: 'https://api.invalid' } },
  'POST /api/v1/tasks/{id}/result': { lease_epoch: 1, output: {} },
  'POST /api/v1/tasks/{id}/heartbeat': { lease_epoch: 1 },
  'PUT /api/v1/task-templates/{name}': { type: 'matrix', capability: 'matrix:b' },
  'PUT /api/v1/secrets/{name}': { value: 'b-value' },
  'PUT /api/v1/llm-providers/{name}': {
    provider: 'custom',
    base_url: 'https://llm.example.com/v1',
    model: 'b',
  },
};

/**
 * GETs that have nothing to show a caller with an API key: the session it came with, and the
 * MCP endpoint's GET (stateless: 405 for everyone, once authenticated).
 */
const NO_SUCCESS_FOR_KEYS = new Set([
  '/api/v1/auth/session',
  '/mcp',
  // Lists the tools live, from a server this test does not run (test/mcp covers it): 502 here.
  '/api/v1/mcp/servers/{name}/tools',
]);

/** A value the schema accepts, as far as its required fields go. */
function sample(schema: JsonSchema | undefined): unknown {
  if (schema === undefined) return undefined;
  if (schema.default !== undefined) return schema.default;
  if (schema.enum !== undefined) return schema.enum[0];
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'object':
      return Object.fromEntries(
        (schema.required ?? []).map((key) => [key, sample(schema.properties?.[key])]),
      );
    case 'array':
      return Array.from({ length: schema.minItems ?? 0 }, () => sample(schema.items));
    case 'integer':
    case 'number':
      return Math.max(schema.minimum ?? 1, 1);
    case 'boolean':
      return true;
    case 'string':
      if (schema.format === 'date-time') return new Date(Date.now() + 86_400_000).toISOString();
      return 'x'.repeat(Math.max(schema.minLength ?? 1, 1));
    default:
      return {};
  }
}

function operationsOf(doc: { paths: Record<string, Record<string, OpenApiOperation>> }): Operation[] {
  return Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => {
      const name = `${method.toUpperCase()} ${path}`;
      const scope = op['x-swarm-scope'];
      if (scope === undefined) throw new Error(`${name} shows no x-swarm-scope`);
      const schema = op.requestBody?.content?.['application/json']?.schema;
      return {
        method: method.toUpperCase() as Method,
        path,
        scope,
        streams: op.responses?.['200']?.content?.['text/event-stream'] !== undefined,
        body:
          name in BODIES ? BODIES[name] : op.requestBody === undefined ? undefined : (sample(schema) ?? {}),
      };
    }),
  );
}

const isScope = (scope: RouteScope): scope is Scope => scope !== 'public' && scope !== 'authenticated';
const allows = (role: Role, scope: RouteScope) => !isScope(scope) || roleAllows(role, scope);

describe.each(DIALECTS)('tenant matrix on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let app: FastifyInstance;
  let operations: Operation[];
  const user: Record<'a' | 'b' | 'viewer', string> = { a: '', b: '', viewer: '' };
  const key: Record<
    'admin' | 'a' | 'b' | 'viewer' | 'revoked' | 'expired' | 'auditOnly' | 'runsOnly',
    string
  > = {
    admin: '',
    a: '',
    b: '',
    viewer: '',
    revoked: '',
    expired: '',
    auditOnly: '',
    runsOnly: '',
  };
  /** What fills each path parameter, by the path before it (`runs` for `/api/v1/runs/{id}/cancel`). */
  const fillers = new Map<string, string>();
  /** Ids of owner A's and owner B's rows: neither may show up in the other's (or a viewer's) answers. */
  const idsOf = { a: new Set<string>(), b: new Set<string>() };

  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    key.admin = (await bootstrapAdmin(store, testDb.dir, 'http://x'))!.key;
    const keyring = openKeyring(loadConfig({ SWARM_MASTER_KEY: randomBytes(32).toString('base64') }));
    // No API-key rate limits: the matrix sends a thousand requests on a handful of keys.
    app = await buildApp({ store, keyring, home: testDb.dir, rateLimits: false });

    const passwordHash = await hashPassword(PASSWORD, CHEAP);
    for (const [who, role] of [
      ['a', 'member'],
      ['b', 'member'],
      ['viewer', 'viewer'],
    ] as const)
      user[who] = (await store.system.insertUserIfAbsent({
        name: `user ${who}`,
        email: `${who}@example.com`,
        role,
        passwordHash,
      }))!.id;
    // Each user's first key as an admin hands it out; everything else goes through the API.
    const firstKey = async (who: 'a' | 'b' | 'viewer', role: Role, scopes: string[], expiresAt?: string) => {
      const generated = generateApiKey();
      const made = await store.as({ userId: user[who], role }).apiKeys.create({
        name: `${who} ${scopes.join(',')}`,
        prefix: generated.prefix,
        hash: generated.hash,
        scopes,
        ...(expiresAt === undefined ? {} : { expiresAt }),
      });
      if (who !== 'viewer') idsOf[who].add(made.id);
      return generated.key;
    };
    // Not even another owner's user id may show (an ownerId field, say).
    idsOf.a.add(user.a);
    idsOf.b.add(user.b);
    key.a = await firstKey('a', 'member', ['*']);
    key.b = await firstKey('b', 'member', ['*']);
    key.viewer = await firstKey('viewer', 'viewer', ['*']);
    key.expired = await firstKey('a', 'member', ['*'], new Date(Date.now() - 60_000).toISOString());

    await seed('a');
    await seed('b');
    const a = (method: Method, url: string, payload?: unknown) => call(key.a, method, url, payload);
    const mint = async (scopes: string[]) => {
      const res = await a('POST', '/api/v1/keys', { name: scopes.join(','), scopes });
      expect(res.statusCode, res.body).toBe(201);
      idsOf.a.add(res.json().apiKey.id);
      return res.json() as { key: string; apiKey: { id: string } };
    };
    key.auditOnly = (await mint(['audit:read'])).key;
    key.runsOnly = (await mint(['runs:read'])).key;
    const revoked = await mint(['*']);
    expect((await a('DELETE', `/api/v1/keys/${revoked.apiKey.id}`)).statusCode).toBe(200);
    key.revoked = revoked.key;
    fillers.set('keys', (await mint(['runs:read'])).apiKey.id);

    const login = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: 'a@example.com', password: PASSWORD },
    });
    expect(login.statusCode, login.body).toBe(200);
    fillers.set('auth/sessions', login.json().session.id);
    idsOf.a.add(login.json().session.id);
    fillers.set('users', user.a);
    fillers.set('*', 'no/such/hook');

    await app.ready();
    // Reads first, then changes; DELETE before PUT, so another owner's PUT (which makes its own
    // resource of that name) does not turn its later GET or DELETE of the name into a 200.
    const rank: Record<Method, number> = { GET: 0, POST: 1, PATCH: 2, DELETE: 3, PUT: 4 };
    operations = operationsOf(app.swagger() as never).sort((x, y) => rank[x.method] - rank[y.method]);
  });
  afterAll(async () => {
    await app?.close();
    await store?.close();
    await testDb?.drop();
  });

  function call(
    bearer: string | null,
    method: Method,
    url: string,
    payload?: unknown,
    streams = false,
  ): Promise<LightMyRequestResponse> {
    const options: InjectOptions = {
      method,
      url,
      headers:
        bearer === null ? {} : { authorization: bearer.startsWith('Bearer ') ? bearer : `Bearer ${bearer}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
      ...(streams ? { payloadAsStream: true } : {}),
    };
    return app.inject(options);
  }

  /** One owner's resources, made through the API; owner A's also fill the path parameters. */
  async function seed(who: 'a' | 'b'): Promise<void> {
    const as = (method: Method, url: string, payload?: unknown) => call(key[who], method, url, payload);
    const ok = async (method: Method, url: string, payload?: unknown) => {
      const res = await as(method, url, payload);
      expect(res.statusCode, `${who}: ${method} ${url}: ${res.body}`).toBeLessThan(300);
      return res.json() as Record<string, unknown> & { id: string };
    };
    const remember = (id: unknown) => {
      expect(typeof id === 'string' && id.length >= 8, `an id: ${String(id)}`).toBe(true);
      idsOf[who].add(id as string);
    };
    const fill = (resource: string, value: string, id: unknown = value) => {
      if (who === 'a') fillers.set(resource, value);
      remember(id);
    };

    const agentKeys = generateKeyPairSync('ed25519');
    const doc = {
      name: `${who}-agent`,
      version: '1.0.0',
      type: 'execution',
      capabilities: [`matrix:${who}`],
      runtime: {
        type: 'http',
        endpoint: 'https://agent.example.com/task',
        public_key: agentKeys.publicKey
          .export({ format: 'der', type: 'spki' })
          .subarray(12)
          .toString('base64'),
      },
    };
    const signature = sign(null, manifestSigningPayload(validOf(doc)), agentKeys.privateKey).toString(
      'base64',
    );
    const agent = await ok('POST', '/api/v1/agents', { ...doc, runtime: { ...doc.runtime, signature } });
    fill('agents', doc.name, (agent.agent as { id: string }).id);

    const flow = `${who}-flow`;
    const workflow = await ok('POST', '/api/v1/workflows', {
      name: flow,
      version: '1.0.0',
      trigger: { type: 'schedule', cron: '0 3 * * *' },
      steps: [{ id: 'only', agent: 'builtin/noop' }],
    });
    fill('workflows', flow, (workflow.workflow as { id: string }).id);
    remember((workflow.trigger as { id: string }).id);
    const run = await ok('POST', `/api/v1/workflows/${flow}/runs`, { input: {} });
    fill('runs', run.id);
    const trigger = (await ok('GET', '/api/v1/triggers')).items as { id: string }[];
    expect(trigger).toHaveLength(1);
    fill('triggers', trigger[0]!.id);

    fill('tasks', (await ok('POST', '/api/v1/tasks', { capability: `matrix:${who}`, input: { n: 1 } })).id);
    fill(
      'task-chains',
      (await ok('POST', '/api/v1/task-chains', { steps: [{ capability: `matrix:${who}` }] })).id,
    );
    const template = await ok('PUT', `/api/v1/task-templates/${who}-template`, {
      type: 'matrix',
      capability: `matrix:${who}`,
    });
    fill('task-templates', `${who}-template`, template.id);
    const secret = await ok('PUT', `/api/v1/secrets/${who.toUpperCase()}_SECRET`, { value: `${who}-value` });
    fill('secrets', `${who.toUpperCase()}_SECRET`, (secret.secret as { id: string }).id);
    const provider = await ok('PUT', `/api/v1/llm-providers/${who}-llm`, {
      provider: 'custom',
      base_url: 'https://llm.example.com/v1',
      model: who,
    });
    fill('llm-providers', `${who}-llm`, (provider.provider as { id: string }).id);
    // An HTTP MCP server at a name that never resolves (.invalid): declared, never reached.
    const mcp = await ok('PUT', `/api/v1/mcp/servers/${who}-mcp`, { url: `https://${who}-mcp.invalid/mcp` });
    fill('mcp/servers', `${who}-mcp`, (mcp.server as { id: string }).id);
    // An http connector at a name that never resolves (.invalid): its test answers ok: false.
    const connector = await ok('POST', '/api/v1/connectors', {
      name: `${who}-api`,
      type: 'http',
      config: { base_url: `https://${who}-api.invalid` },
    });
    fill('connectors', `${who}-api`, connector.id);
    // Budgets are named by period: A's is a day's, B's a month's (so B has no `day` to find).
    // Their caps stand in for ids, to catch one owner's budget in another's answers.
    const cap = who === 'a' ? 111_111_111 : 222_222_222;
    await ok('PUT', `/api/v1/budgets/${who === 'a' ? 'day' : 'month'}`, { tokens: cap });
    fill('budgets', 'day', String(cap));
    remember((await ok('POST', '/api/v1/events', { source: `${who}-source`, type: 'matrix.happened' })).id);
    fill(
      'scheduled-tasks',
      (
        await ok('POST', '/api/v1/scheduled-tasks', {
          name: `${who}-nightly`,
          cron: '0 3 * * *',
          capability: `matrix:${who}`,
        })
      ).id,
    );
    const webhook = await ok('POST', '/api/v1/webhooks', {
      name: `${who}-hook`,
      url: `https://example.com/${who}`,
      eventTypes: ['*'],
    });
    const webhookId = (webhook.webhook as { id: string }).id;
    fill('webhooks', webhookId);
    const delivery = await ok('POST', `/api/v1/webhooks/${webhookId}/test`);
    fill('webhook-deliveries', delivery.id);
    await ok('POST', '/api/v1/templates', {
      name: `${who}-flow-template`,
      parameters: [{ name: 'name', description: 'The workflow name' }],
      workflow: {
        name: '{{ params.name }}',
        version: '1.0.0',
        steps: [{ id: 'only', agent: 'builtin/noop' }],
      },
    });
    fill('templates', `${who}-flow-template`);
    // History is written by the archiver, not the API: one archived run, as it writes them.
    const archivedRun = newId();
    await store.handle.db
      .insertInto('execution_history')
      .values({ id: newId(), owner_id: user[who], run_id: archivedRun, status: 'completed' })
      .execute();
    fill('history', archivedRun);

    // Artifacts are written by workers, not the API: one for the run, as a worker reports it.
    const task = await store.handle.db
      .selectFrom('tasks')
      .select('id')
      .where('run_id', '=', run.id)
      .executeTakeFirstOrThrow();
    const artifactId = newId();
    await store.system.insertReports({
      artifacts: [
        {
          id: artifactId,
          ownerId: user[who],
          runId: run.id,
          taskId: task.id,
          sha256: 'x',
          artifactType: 'text',
          name: `${who}.md`,
          contentType: 'text/markdown',
          content: `# ${who}`,
          contentBlob: null,
          storagePath: null,
          sizeBytes: 3,
        },
      ],
      messages: [],
      usage: [],
    });
    fill('artifacts', artifactId);
    remember(task.id);
    // A payload over SWARM_PAYLOAD_INLINE_MAX is a blob, readable by the owners referencing it.
    await ok('POST', '/api/v1/events', {
      source: 'matrix',
      type: 'big',
      payload: { text: `${who} `.repeat(40_000) },
    });
    const blob = await store.handle.db
      .selectFrom('blob_refs')
      .select('sha256')
      .where('owner_id', '=', user[who])
      .executeTakeFirstOrThrow();
    fill('blobs', blob.sha256);
    // Alerts are raised by Swarm itself, not the API: one about the run.
    const alert = await store.handle.dialect.writeTransaction(store.handle.db, (trx) =>
      raise(trx, store.handle.dialect, {
        ownerId: user[who],
        type: 'task_completion',
        severity: 'info',
        cause: `task_completion:${run.id}`,
        title: `${who} run completed`,
        relatedRunId: run.id,
      }),
    );
    fill('alerts', alert!.alert.id);
    // Approvals are waitpoints a step's sleep writes: one on the run's step, as a worker would.
    const step = await store.handle.db
      .selectFrom('tasks')
      .select('id')
      .where('run_id', '=', run.id)
      .executeTakeFirstOrThrow();
    const approval = await store.handle.dialect.writeTransaction(store.handle.db, (trx) =>
      createWaitpoint(
        trx,
        { ownerId: user[who], runId: run.id, taskId: step.id, stepId: 'only' },
        { key: 'approval', kind: 'approval', spec: { message: `${who} approves?` } },
        new Date().toISOString(),
      ),
    );
    fill('approvals', approval.id);
  }

  /** The URL with owner A's ids in it, or an error naming the parameter nothing fills. */
  function urlOf(op: Operation): string {
    return op.path.replace(/\{([^}]+)\}/g, (_whole, param: string, offset: number) => {
      if (param === 'version') return '1.0.0';
      if (param === '*') return fillers.get('*')!;
      const before = op.path.slice('/api/v1/'.length, offset - 1);
      const resource = before.replace(/\/\{[^}]+\}.*$/, '');
      const value = fillers.get(resource);
      if (value === undefined)
        throw new Error(
          `${op.method} ${op.path}: nothing of owner A fills {${param}} (add a "${resource}" filler)`,
        );
      return encodeURIComponent(value);
    });
  }

  /** Status and text of an answer; a stream (server-sent events) is read only as far as its status. */
  async function send(op: Operation, bearer: string | null): Promise<{ status: number; text: string }> {
    const res = await call(bearer, op.method, urlOf(op), op.body, op.streams);
    if (!op.streams) return { status: res.statusCode, text: res.body };
    const stream = res.stream();
    if (res.statusCode < 300) {
      stream.destroy();
      return { status: res.statusCode, text: '' };
    }
    let text = '';
    for await (const chunk of stream) text += String(chunk);
    return { status: res.statusCode, text };
  }

  const detailOf = (text: string) => {
    try {
      return String((JSON.parse(text) as { detail?: unknown }).detail ?? '');
    } catch {
      return '';
    }
  };
  const foreign = (text: string, owner: 'a' | 'b') => [...idsOf[owner]].filter((id) => text.includes(id));

  type Case = readonly [
    name: string,
    bearer: (op: Operation) => string | null,
    expect: (op: Operation) => Expectation,
  ];
  type Expectation =
    { status: number } | { not: readonly number[]; noIdsOf?: 'a' | 'b'; success?: true } | { open: true };
  /** A public route may still answer 401 for its own reasons (a wrong password), never the hook's. */
  const HOOK_REFUSAL =
    /^(missing Authorization header|unknown API key|API key (revoked|expired)|user disabled)/;
  const unauthenticated = (op: Operation): Expectation =>
    op.scope === 'public' ? { open: true } : { status: 401 };

  const CASES: readonly Case[] = [
    ['no credentials', () => null, unauthenticated],
    ['a malformed key', () => 'Bearer swarm_!not-a-key!', unauthenticated],
    ['a revoked key', () => key.revoked, unauthenticated],
    ['an expired key', () => key.expired, unauthenticated],
    [
      "a key lacking the route's scope",
      // Owner A's own keys, one with only audit:read and one with only runs:read.
      (op) => (op.scope === 'audit:read' ? key.runsOnly : key.auditOnly),
      (op) => (isScope(op.scope) ? { status: 403 } : { not: [403, 401] }),
    ],
    [
      'a viewer',
      () => key.viewer,
      (op) => (allows('viewer', op.scope) ? { not: [401, 403], noIdsOf: 'a' } : { status: 403 }),
    ],
    [
      'a member of another owner',
      () => key.b,
      (op) =>
        !allows('member', op.scope)
          ? { status: 403 }
          : op.path.includes('{') && op.method !== 'PUT' && op.scope !== 'public'
            ? { status: 404 }
            : { not: [401, 403], noIdsOf: 'a' },
    ],
    [
      'owner A',
      () => key.a,
      // Owner A reads every one of its own resources: a GET must succeed, not merely pass the hook.
      (op) =>
        allows('member', op.scope)
          ? {
              not: [401, 403],
              noIdsOf: 'b',
              ...(op.method === 'GET' && !NO_SUCCESS_FOR_KEYS.has(op.path) ? { success: true as const } : {}),
            }
          : { status: 403 },
    ],
    ['the admin', () => key.admin, () => ({ not: [401, 403] })],
  ];

  it('covers every operation of the document, each with a scope, and fills every path parameter', () => {
    expect(operations.length).toBeGreaterThan(70);
    for (const op of operations) expect(() => urlOf(op)).not.toThrow();
    // The other-owner case means something: most routes take one of owner A's ids.
    const otherOwner = CASES.find(([name]) => name === 'a member of another owner')![2];
    expect(
      operations.filter(
        (op) => 'status' in otherOwner(op) && (otherOwner(op) as { status: number }).status === 404,
      ).length,
    ).toBeGreaterThan(40);
  });

  it.each(CASES.map(([name]) => name))('answers %s as expected on every operation', async (name) => {
    const [, bearerOf, expected] = CASES.find(([n]) => n === name)!;
    const wrong: string[] = [];
    for (const op of operations) {
      // Public routes ask for nothing: only the callers without credentials say anything about them.
      if (op.scope === 'public' && !['no credentials', 'a malformed key'].includes(name)) continue;
      const { status, text } = await send(op, bearerOf(op));
      const want = expected(op);
      const label = `${op.method} ${op.path} → ${status}`;
      if (status >= 500) wrong.push(`${label}: a server error: ${text.slice(0, 200)}`);
      else if ('status' in want && status !== want.status)
        wrong.push(`${label}, expected ${want.status}: ${text.slice(0, 200)}`);
      else if ('open' in want && (status === 403 || (status === 401 && HOOK_REFUSAL.test(detailOf(text)))))
        wrong.push(`${label}: a public route refused: ${text.slice(0, 200)}`);
      else if ('not' in want && want.success === true && status >= 300)
        wrong.push(`${label}, expected a success: ${text.slice(0, 200)}`);
      else if ('not' in want && want.not.includes(status))
        wrong.push(`${label}, expected anything but ${want.not.join('/')}: ${text.slice(0, 200)}`);
      else if ('not' in want && want.noIdsOf !== undefined && status < 300) {
        const leaked = foreign(text, want.noIdsOf);
        if (leaked.length > 0)
          wrong.push(`${label} shows owner ${want.noIdsOf.toUpperCase()}'s ids ${leaked.join(', ')}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
