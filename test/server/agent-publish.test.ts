import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bootstrapAdmin } from '../../src/auth/index.js';
import { loadConfig } from '../../src/config/index.js';
import { EXAMPLES_DIR, registerExamples, Registry } from '../../src/registry/index.js';
import { buildApp } from '../../src/server/index.js';
import { Store, type Caller } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { memberWithKey } from '../helpers/users.js';

/** The exploit of issue 13: a shell, run from /bin, reading SWARM_HOME/credentials. */
const SHELL_AGENT = {
  name: 'pwn',
  version: '1.0.0',
  type: 'execution',
  capabilities: ['x:pwn'],
  runtime: { type: 'binary', entry: 'sh', args: ['-c', 'cat "$SWARM_HOME/credentials"'] },
};

const NODE_AGENT = {
  name: 'mine',
  version: '1.0.0',
  type: 'execution',
  capabilities: ['x:mine'],
  runtime: { type: 'node', entry: 'index.js' },
};

describe.each(DIALECTS)('who may publish agent code, and from where, on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let app: FastifyInstance;
  let adminKey: string;
  let home: string;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    home = testDb.dir;
    store = await Store.open(testDb.url);
    adminKey = (await bootstrapAdmin(store, home, 'http://x'))!.key;
    // The default agents folders: the examples, and SWARM_HOME/agents.
    app = await buildApp({ store, home });
    fs.mkdirSync(path.join(home, 'agents', 'mine'), { recursive: true });
    fs.writeFileSync(path.join(home, 'agents', 'mine', 'index.js'), '');
  });
  afterEach(async () => {
    await app.close();
    await store.close();
    await testDb.drop();
  });

  const register = (key: string, folder: string, manifest: object = SHELL_AGENT) =>
    app.inject({
      method: 'POST',
      url: `/api/v1/agents?path=${encodeURIComponent(folder)}`,
      headers: { authorization: `Bearer ${key}` },
      payload: manifest,
    });

  it('refuses the exploit from a member with a default key: 403 naming agents:publish, nothing stored', async () => {
    const { key } = await memberWithKey(store, { name: 'Mallory', email: 'm@example.com' }, 'default');
    for (const folder of ['/bin', path.join(home, 'agents', 'mine')]) {
      const res = await register(key, folder);
      expect(res.statusCode, res.body).toBe(403);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({
        code: 'INSUFFICIENT_SCOPE',
        errors: [{ field: 'scope', message: expect.stringContaining('agents:publish') }],
      });
      expect(res.json().detail).toMatch(/agents:publish/);
    }
    const listed = await app.inject({
      method: 'GET',
      url: '/api/v1/agents?builtin=false',
      headers: { authorization: `Bearer ${key}` },
    });
    expect(listed.json().items).toEqual([]);
  });

  it('refuses, even for an admin, a folder outside the agents folders: /bin, .., a symlink out, a relative path', async () => {
    fs.symlinkSync('/bin', path.join(home, 'agents', 'escape'));
    const outside = [
      '/bin',
      path.join(EXAMPLES_DIR, 'agents', '..', '..', '..'),
      path.join(home, 'agents', 'escape'),
      path.join(home, 'agents', 'mine', '..', '..'),
      'agents/mine',
      path.join(home, 'agents', 'nowhere'),
    ];
    for (const folder of outside) {
      const res = await register(adminKey, folder);
      expect([folder, res.statusCode]).toEqual([folder, 400]);
      expect(res.json()).toMatchObject({ code: 'INPUT_INVALID', errors: [{ field: 'path' }] });
      expect(res.json().detail).toMatch(/SWARM_AGENTS_DIRS/);
    }
    const res = await register(adminKey, path.join(home, 'agents', 'mine', '.'), NODE_AGENT);
    expect(res.statusCode, res.body).toBe(201);
    // Stored as its real path: what the workers run from.
    expect(res.json().agent.path).toBe(fs.realpathSync(path.join(home, 'agents', 'mine')));
  });

  it('refuses bad persistent-mode values with 400 naming each field, and stores nothing', async () => {
    const folder = path.join(home, 'agents', 'mine');
    for (const [runtime, field] of [
      [{ mode: 'warm' }, 'runtime.mode'],
      [{ mode: 'persistent', max_tasks_per_process: 0 }, 'runtime.max_tasks_per_process'],
      [{ mode: 'persistent', idle_timeout_seconds: 'soon' }, 'runtime.idle_timeout_seconds'],
      [{ max_tasks_per_process: 10 }, 'runtime.max_tasks_per_process'],
    ] as const) {
      const manifest = { ...NODE_AGENT, runtime: { ...NODE_AGENT.runtime, ...runtime } };
      const res = await register(adminKey, folder, manifest);
      expect([field, res.statusCode]).toEqual([field, 400]);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ code: 'INPUT_INVALID', errors: [{ field }] });
    }
    const listed = await app.inject({
      method: 'GET',
      url: '/api/v1/agents?builtin=false',
      headers: { authorization: `Bearer ${adminKey}` },
    });
    expect(listed.json().items).toEqual([]);
    const ok = {
      ...NODE_AGENT,
      runtime: { ...NODE_AGENT.runtime, mode: 'persistent', max_tasks_per_process: 10 },
    };
    const res = await register(adminKey, folder, ok);
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().agent.manifest.runtime).toMatchObject({
      mode: 'persistent',
      max_tasks_per_process: 10,
    });
  });

  it('lets the examples load from the default folders, and a member publish only when granted', async () => {
    const config = loadConfig({ SWARM_HOME: home });
    const registry = new Registry(store, { agentsDirs: config.agentsDirs });
    const admin = (await store.system.findUserByEmail('admin@localhost'))!;
    // Examples outside the agents folders are skipped, all of them, saying why.
    const elsewhere = await registerExamples(
      new Registry(store, { agentsDirs: [path.join(home, 'agents')] }),
      {
        userId: admin.id,
        role: 'admin',
      },
    );
    expect(elsewhere).toMatchObject({
      agents: [],
      workflows: [],
      skipped: expect.stringMatching(/SWARM_AGENTS_DIRS/),
    });
    const report = await registerExamples(registry, { userId: admin.id, role: 'admin' });
    expect(report.agents.length).toBeGreaterThanOrEqual(4);
    expect(report.skipped).toBeUndefined();
    const { apiKey } = await memberWithKey(store, { name: 'Pat', email: 'p@example.com' }, 'k');
    const member: Caller = { userId: apiKey.ownerId, role: 'member' };
    const folder = path.join(home, 'agents', 'mine');
    await expect(registry.as(member).agents.register(NODE_AGENT, { path: folder })).rejects.toMatchObject({
      code: 'INSUFFICIENT_SCOPE',
    });
    // Granted, with a key that names the scope (a `*` key does not imply it).
    const granted: Caller = { ...member, grants: ['agents:publish'] };
    await expect(
      registry.as({ ...granted, scopes: ['*'] }).agents.register(NODE_AGENT, { path: folder }),
    ).rejects.toMatchObject({ code: 'INSUFFICIENT_SCOPE' });
    const { created } = await registry
      .as({ ...granted, scopes: ['agents:write', 'agents:publish'] })
      .agents.register(NODE_AGENT, { path: folder });
    expect(created).toBe(true);
    // Agents without code on the workers need no such scope.
    const { created: remote } = await registry.as(member).agents.register({
      name: 'remote',
      version: '1.0.0',
      type: 'execution',
      capabilities: ['x:remote'],
      runtime: {
        type: 'http',
        endpoint: 'https://agents.example.com/run',
        public_key: generateKeyPairSync('ed25519')
          .publicKey.export({ format: 'pem', type: 'spki' })
          .toString(),
      },
    });
    expect(remote).toBe(true);
  });
});
