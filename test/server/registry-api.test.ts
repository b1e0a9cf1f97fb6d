import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { bootstrapAdmin } from '../../src/auth/index.js';
import { EXAMPLES_DIR, loadAgentManifest, parseDocument, formatOf } from '../../src/registry/index.js';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config/index.js';
import { openKeyring } from '../../src/secrets/index.js';
import { buildApp } from '../../src/server/index.js';
import { Store } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { memberWithKey } from '../helpers/users.js';
import { liftRateLimits } from '../helpers/rate-limits.js';

const exampleAgents = fs.readdirSync(path.join(EXAMPLES_DIR, 'agents')).sort();
const exampleWorkflows = fs
  .readdirSync(path.join(EXAMPLES_DIR, 'workflows'))
  .filter((f) => formatOf(f) !== null)
  .sort();

function readWorkflow(file: string): Record<string, unknown> {
  const full = path.join(EXAMPLES_DIR, 'workflows', file);
  return parseDocument(fs.readFileSync(full, 'utf8'), formatOf(file)!, file) as Record<string, unknown>;
}

describe.each(DIALECTS)('registry API on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let app: FastifyInstance;
  let key: string;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    key = (await bootstrapAdmin(store, testDb.dir, 'http://x'))!.key;
    // Applying the webhook example seals its new secret: with a key of the test's own.
    const keyring = openKeyring(loadConfig({ SWARM_MASTER_KEY: randomBytes(32).toString('base64') }));
    app = await buildApp({ store, keyring });
    // Every example twice, and then some: more requests than a key's default 60 a minute.
    await liftRateLimits(store);
  });
  afterEach(async () => {
    await app.close();
    await store.close();
    await testDb.drop();
  });

  const call = (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: unknown, asKey = key) =>
    app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${asKey}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });

  async function registerExamples(): Promise<void> {
    for (const name of exampleAgents) {
      const { manifest, folder } = await loadAgentManifest(path.join(EXAMPLES_DIR, 'agents', name));
      const res = await call('POST', `/api/v1/agents?path=${encodeURIComponent(folder ?? '')}`, manifest);
      expect(res.statusCode, `${name}: ${res.body}`).toBe(201);
    }
  }

  it('registers every example agent and applies every example workflow; again changes nothing', async () => {
    expect(exampleAgents.length).toBeGreaterThanOrEqual(4);
    expect(exampleWorkflows.length).toBeGreaterThanOrEqual(6);
    await registerExamples();
    for (const file of exampleWorkflows) {
      const res = await call('POST', '/api/v1/workflows', readWorkflow(file));
      expect(res.statusCode, `${file}: ${res.body}`).toBe(201);
      expect(res.json().created).toBe(true);
    }
    for (const file of exampleWorkflows) {
      const res = await call('POST', '/api/v1/workflows', readWorkflow(file));
      expect(res.statusCode).toBe(200);
      expect(res.json().created).toBe(false);
    }
    const { manifest } = await loadAgentManifest(path.join(EXAMPLES_DIR, 'agents', exampleAgents[0]!));
    expect((await call('POST', '/api/v1/agents', manifest)).json().created).toBe(false);
    const list = await call('GET', '/api/v1/workflows');
    expect(
      list
        .json()
        .items.map((w: { name: string }) => w.name)
        .sort(),
    ).toHaveLength(exampleWorkflows.length);
  });

  it('refuses a changed agent or workflow under the same version with 409, and stores a new version', async () => {
    await registerExamples();
    const { manifest } = await loadAgentManifest(path.join(EXAMPLES_DIR, 'agents', 'echo'));
    const changed = { ...manifest, description: 'changed' };
    const conflict = await call('POST', '/api/v1/agents', changed);
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json()).toMatchObject({ code: 'CONFLICT' });
    expect(conflict.json().detail).toMatch(/echo@1\.0\.0 is already registered with different content/);

    const doc = readWorkflow('text-report.yaml');
    await call('POST', '/api/v1/workflows', doc);
    expect((await call('POST', '/api/v1/workflows', { ...doc, description: 'other' })).statusCode).toBe(409);
    expect(
      (await call('POST', '/api/v1/workflows', { ...doc, version: '1.1.0', description: 'other' }))
        .statusCode,
    ).toBe(201);
    const versions = await call('GET', '/api/v1/workflows/text-report/versions');
    expect(versions.json().items.map((w: { version: string }) => w.version)).toEqual(['1.0.0', '1.1.0']);
    expect((await call('GET', '/api/v1/workflows/text-report')).json().version).toBe('1.1.0');
    expect((await call('GET', '/api/v1/workflows/text-report/versions/1.0.0')).json().description).not.toBe(
      'other',
    );
  });

  it('lists agents by capability, tag and type, shows builtins, and deprecates', async () => {
    await registerExamples();
    const byCapability = await call('GET', '/api/v1/agents?capability=text:count');
    expect(byCapability.json().items.map((a: { name: string }) => a.name)).toEqual(['word-count']);
    const builtins = await call('GET', '/api/v1/agents?capability=builtin:noop');
    expect(builtins.json().items).toMatchObject([{ name: 'builtin/noop', builtin: true }]);
    expect((await call('GET', '/api/v1/agents?builtin=false')).json().items).toHaveLength(
      exampleAgents.length,
    );
    expect((await call('GET', '/api/v1/agents/builtin%2Fnoop')).json()).toMatchObject({
      name: 'builtin/noop',
      builtin: true,
    });
    expect((await call('GET', '/api/v1/agents?type=cosmic')).statusCode).toBe(400);

    const deprecated = await call('PATCH', '/api/v1/agents/echo', { status: 'deprecated', version: '1.0.0' });
    expect(deprecated.json().items).toMatchObject([{ name: 'echo', status: 'deprecated' }]);
    expect((await call('PATCH', '/api/v1/agents/nope', { status: 'disabled' })).statusCode).toBe(404);
    expect((await call('PATCH', '/api/v1/agents/echo', { status: 'gone' })).statusCode).toBe(400);
  });

  it('enables, disables and changes the status of a workflow across its versions', async () => {
    await registerExamples();
    await call('POST', '/api/v1/workflows', readWorkflow('text-report.yaml'));
    const res = await call('PATCH', '/api/v1/workflows/text-report', { enabled: false, status: 'paused' });
    expect(res.json()).toMatchObject({ enabled: false, status: 'paused' });
    // A new version inherits the workflow's state.
    const next = await call('POST', '/api/v1/workflows', {
      ...readWorkflow('text-report.yaml'),
      version: '2.0.0',
    });
    expect(next.json().workflow).toMatchObject({ version: '2.0.0', enabled: false, status: 'paused' });
    expect((await call('PATCH', '/api/v1/workflows/text-report', {})).statusCode).toBe(400);
    expect((await call('PATCH', '/api/v1/workflows/text-report', { status: 'sleeping' })).statusCode).toBe(
      400,
    );
  });

  it('lists every problem of an invalid manifest or definition, and stores nothing', async () => {
    const badAgent = await call('POST', '/api/v1/agents', {
      name: 'Bad/Name',
      version: 'one',
      runtime: { type: 'node' },
    });
    expect(badAgent.statusCode).toBe(400);
    expect(badAgent.headers['content-type']).toMatch(/problem\+json/);
    const fields = badAgent.json().errors.map((e: { field: string }) => e.field);
    expect(fields).toEqual(expect.arrayContaining(['name', 'version', 'runtime.entry']));

    await registerExamples();
    const bad = {
      name: 'broken',
      version: '1.0.0',
      steps: [
        { id: 'a', agent: 'echo@^1.0.0', input: {} },
        { id: 'a', agent: 'echo@^1.0.0', input: {} },
        { id: 'c', agent: 'echo@^1.0.0', needs: ['fetch'], input: {} },
      ],
    };
    for (const url of ['/api/v1/workflows/validate', '/api/v1/workflows']) {
      const res = await call('POST', url, bad);
      expect(res.statusCode).toBe(400);
      const issues = res.json().errors as Array<{ field: string; message: string }>;
      expect(issues).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ field: 'steps[1].id' }),
          expect.objectContaining({ field: 'steps[2].needs[0]' }),
        ]),
      );
    }
    expect((await call('GET', '/api/v1/workflows')).json().items).toEqual([]);
    const ok = await call('POST', '/api/v1/workflows/validate', readWorkflow('text-report.yaml'));
    expect(ok.json()).toMatchObject({ valid: true, workflow: { name: 'text-report' } });
    expect((await call('GET', '/api/v1/workflows')).json().items).toEqual([]);
  });

  it('accepts definitions as YAML and names a YAML syntax error', async () => {
    await registerExamples();
    const yaml = fs.readFileSync(path.join(EXAMPLES_DIR, 'workflows', 'text-report.yaml'), 'utf8');
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/workflows',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/yaml' },
      payload: yaml,
    });
    expect(res.statusCode).toBe(201);
    const broken = await app.inject({
      method: 'POST',
      url: '/api/v1/workflows/validate',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/yaml' },
      payload: 'name: x\nsteps: [\n',
    });
    expect(broken.statusCode).toBe(400);
    expect(broken.json().detail).toMatch(/^body: invalid YAML/);
  });

  it("hides one user's agents and workflows from another user's key", async () => {
    await registerExamples();
    await call('POST', '/api/v1/workflows', readWorkflow('text-report.yaml'));
    const { key: theirs } = await memberWithKey(store, { name: 'O', email: 'o@example.com' }, 'o');
    expect((await call('GET', '/api/v1/agents?builtin=false', undefined, theirs)).json().items).toEqual([]);
    expect((await call('GET', '/api/v1/agents/echo', undefined, theirs)).statusCode).toBe(404);
    expect((await call('GET', '/api/v1/workflows', undefined, theirs)).json().items).toEqual([]);
    expect((await call('GET', '/api/v1/workflows/text-report', undefined, theirs)).statusCode).toBe(404);
    expect(
      (await call('PATCH', '/api/v1/workflows/text-report', { enabled: false }, theirs)).statusCode,
    ).toBe(404);
    // Their workflows cannot use the admin's agents either.
    const res = await call('POST', '/api/v1/workflows/validate', readWorkflow('text-report.yaml'), theirs);
    expect(res.statusCode).toBe(400);
    expect(res.json().errors).toEqual(
      expect.arrayContaining([expect.objectContaining({ field: 'steps[0].agent' })]),
    );
  });
});
