import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { bootstrapAdmin } from '../../src/auth/index.js';
import { Engine } from '../../src/engine/index.js';
import { buildApp } from '../../src/server/index.js';
import { Store, TEMPLATE_PATTERNS } from '../../src/storage/index.js';
import { builtinTemplates, placeholdersOf } from '../../src/templates/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { memberWithKey } from '../helpers/users.js';

describe('the shipped templates', () => {
  it('parse, declare every placeholder they use, and cover every pattern and consensus strategy', () => {
    const templates = builtinTemplates();
    expect(new Set(templates.map((t) => t.pattern))).toEqual(new Set(TEMPLATE_PATTERNS));
    const strategies = templates
      .filter((t) => t.pattern === 'consensus')
      .map((t) => (t.workflow.steps as { strategy: string }[])[0]!.strategy)
      .sort();
    expect(strategies).toEqual(['judge_based', 'mixture_of_agents', 'voting', 'weighted']);
    for (const template of templates) {
      expect(template.parameters.map((p) => p.name)).toContain('name');
      expect(new Set(template.parameters.map((p) => p.name))).toEqual(placeholdersOf(template.workflow));
      for (const p of template.parameters) expect(p.description.length).toBeGreaterThan(5);
    }
  });
});

describe.each(DIALECTS)('templates API on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let app: FastifyInstance;
  let key: string;
  let otherKey: string;

  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    key = (await bootstrapAdmin(store, testDb.dir, 'http://x'))!.key;
    otherKey = (await memberWithKey(store, { name: 'B', email: 'b@example.com' }, 'b')).key;
    app = await buildApp({ store, engine: new Engine(store) });
  });
  afterAll(async () => {
    await app.close();
    await store.close();
    await testDb.drop();
  });

  const call = (method: 'GET' | 'POST', url: string, payload?: unknown, asKey = key) =>
    app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${asKey}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  const workflowCount = async () =>
    Number(
      (
        await store.handle.db
          .selectFrom('workflows')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  it('lists the built-in templates with their pattern and parameters', async () => {
    const res = await call('GET', '/api/v1/templates');
    expect(res.statusCode).toBe(200);
    const hierarchical = res.json().items.find((t: { name: string }) => t.name === 'hierarchical');
    expect(hierarchical).toMatchObject({ pattern: 'hierarchical', builtin: true, isPublic: true });
    expect(hierarchical.parameters.map((p: { name: string }) => p.name)).toEqual([
      'name',
      'coordinator',
      'pool',
      'max_rounds',
    ]);
    const one = (await call('GET', '/api/v1/templates/sequential')).json();
    expect(one.workflow.steps[0].agent).toBe('{{ params.first }}');
    expect((await call('GET', '/api/v1/templates/nope')).statusCode).toBe(404);
  });

  it('instantiates sequential, concurrent and voting templates into applied workflows', async () => {
    const seq = await call('POST', '/api/v1/templates/sequential/instantiate', {
      name: 'my-chain',
      parameters: { first: 'builtin/transform', second: 'builtin/transform' },
    });
    expect(seq.statusCode).toBe(201);
    expect(seq.json().workflow).toMatchObject({ name: 'my-chain', version: '1.0.0' });
    expect(seq.json().workflow.definition.steps[1]).toMatchObject({
      agent: 'builtin/transform',
      needs: ['first'],
    });
    // The workflow's own expressions are left for the engine.
    expect(seq.json().workflow.definition.steps[1].input.previous).toBe('{{ steps.first.output }}');

    const par = await call('POST', '/api/v1/templates/concurrent/instantiate', {
      name: 'my-fan',
      parameters: { worker: 'builtin/transform' },
    });
    expect(par.statusCode).toBe(201);

    const vote = await call('POST', '/api/v1/templates/consensus-voting/instantiate', {
      name: 'my-vote',
      parameters: { voters: 'builtin/transform, builtin/transform, builtin/transform', quorum: '2' },
    });
    expect(vote.statusCode).toBe(201);
    expect(vote.json().workflow.definition.steps[0]).toMatchObject({
      strategy: 'voting',
      quorum: 2,
      agents: ['builtin/transform', 'builtin/transform', 'builtin/transform'],
    });
    expect((await call('GET', '/api/v1/workflows/my-vote')).statusCode).toBe(200);
  });

  it('refuses missing, unknown and ill-typed parameters with a 400 naming them, storing nothing', async () => {
    const before = await workflowCount();
    const cases: [string, unknown, RegExp][] = [
      ['hierarchical', { name: 'h', parameters: { pool: 'a,b' } }, /parameters\.coordinator/],
      [
        'sequential',
        { name: 's', parameters: { first: 'builtin/transform', colour: 'red' } },
        /parameters\.colour/,
      ],
      ['consensus-voting', { name: 'v', parameters: { quorum: 'two' } }, /parameters\.quorum/],
      ['sequential', { name: 's', parameters: { first: '{{ trigger }}' } }, /parameters\.first/],
      // Fills in fine but is no valid workflow: the definition's own error, still a 400.
      ['sequential', { name: 'bad name!', parameters: {} }, /name/],
    ];
    for (const [template, body, field] of cases) {
      const res = await call('POST', `/api/v1/templates/${template}/instantiate`, body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.headers['content-type']).toMatch(/problem\+json/);
      expect(res.body).toMatch(field);
    }
    expect(await workflowCount()).toBe(before);
  });

  it("saves an owner's private template, seen by its owner only", async () => {
    const doc = {
      name: 'my-pair',
      description: 'Two transforms',
      pattern: 'sequential',
      parameters: [{ name: 'name', description: 'The workflow name', default: 'pair' }],
      workflow: {
        name: '{{ params.name }}',
        version: '1.0.0',
        steps: [{ id: 'a', agent: 'builtin/transform', input: { x: '{{ trigger.x }}' } }],
      },
    };
    const saved = await call('POST', '/api/v1/templates', doc);
    expect(saved.statusCode).toBe(201);
    expect(saved.json()).toMatchObject({ name: 'my-pair', builtin: false, isPublic: false });
    expect((await call('POST', '/api/v1/templates', { ...doc, description: 'again' })).statusCode).toBe(200);
    const mine = (await call('GET', '/api/v1/templates')).json().items.map((t: { name: string }) => t.name);
    expect(mine).toContain('my-pair');
    const theirs = (await call('GET', '/api/v1/templates', undefined, otherKey)).json().items;
    expect(theirs.map((t: { name: string }) => t.name)).not.toContain('my-pair');
    expect((await call('GET', '/api/v1/templates/my-pair', undefined, otherKey)).statusCode).toBe(404);
    expect((await call('POST', '/api/v1/templates/my-pair/instantiate', {}, otherKey)).statusCode).toBe(404);
    const made = await call('POST', '/api/v1/templates/my-pair/instantiate', {});
    expect(made.statusCode).toBe(201);
    expect(made.json().workflow.name).toBe('pair');

    const builtinName = await call('POST', '/api/v1/templates', { ...doc, name: 'sequential' });
    expect(builtinName.statusCode).toBe(409);
    const undeclared = await call('POST', '/api/v1/templates', {
      ...doc,
      name: 'broken',
      workflow: { ...doc.workflow, description: '{{ params.missing }}' },
    });
    expect(undeclared.statusCode).toBe(400);
    expect(undeclared.body).toMatch(/params\.missing/);
    const badPattern = await call('POST', '/api/v1/templates', { ...doc, name: 'odd', pattern: 'star' });
    expect(badPattern.statusCode).toBe(400);
    expect(badPattern.body).toMatch(/pattern/);
    expect(
      (await call('GET', '/api/v1/templates')).json().items.map((t: { name: string }) => t.name),
    ).not.toContain('broken');
  });
});
