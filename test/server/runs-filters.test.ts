import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { bootstrapAdmin } from '../../src/auth/index.js';
import { Engine } from '../../src/engine/index.js';
import { buildApp } from '../../src/server/index.js';
import { Store } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { memberWithKey } from '../helpers/users.js';

describe.each(DIALECTS)('GET /api/v1/runs filters and paging on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let app: FastifyInstance;
  let key: string;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    key = (await bootstrapAdmin(store, testDb.dir, 'http://x'))!.key;
    app = await buildApp({ store, engine: new Engine(store) });
    for (const name of ['alpha', 'beta_two'])
      expect(
        (
          await call('POST', '/api/v1/workflows', {
            name,
            version: '1.0.0',
            steps: [{ id: 'a', agent: 'builtin/transform', input: {} }],
          })
        ).statusCode,
      ).toBe(201);
  });
  afterEach(async () => {
    await app.close();
    await store.close();
    await testDb.drop();
  });

  function call(method: 'GET' | 'POST', url: string, payload?: unknown, asKey = key) {
    return app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${asKey}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  }

  /** Starts a run, then sets what a test needs of its row (its creation time, trigger, error). */
  async function run(
    workflow: string,
    row: { created_at: string; trigger_type?: string | null; error?: string; status?: string },
  ): Promise<string> {
    const { id } = (await call('POST', `/api/v1/workflows/${workflow}/runs`, {})).json();
    await store.handle.db.updateTable('workflow_runs').set(row).where('id', '=', id).execute();
    return id;
  }

  const ids = async (query: string) => {
    const res = await call('GET', `/api/v1/runs${query}`);
    expect(res.statusCode).toBe(200);
    return (res.json().items as { id: string }[]).map((r) => r.id);
  };

  it('filters by trigger type, time, and text in the id, workflow or error', async () => {
    const a = await run('alpha', { created_at: '2030-01-01T00:00:00.000Z', trigger_type: 'webhook' });
    const b = await run('alpha', {
      created_at: '2030-01-02T00:00:00.000Z',
      trigger_type: null,
      status: 'failed',
      error: 'Step a: Quota EXCEEDED 100%',
    });
    const c = await run('beta_two', { created_at: '2030-01-03T00:00:00.000Z', trigger_type: 'schedule' });

    expect(await ids('')).toEqual([c, b, a]);
    expect(await ids('?triggerType=webhook')).toEqual([a]);
    // An old run without a trigger type was started by hand.
    expect(await ids('?triggerType=manual')).toEqual([b]);
    expect(await ids('?since=2030-01-02T00:00:00Z')).toEqual([c, b]);
    expect(await ids('?until=2030-01-02T00:00:00%2B00:00')).toEqual([a]);
    expect(await ids('?since=2030-01-01T12:00:00Z&until=2030-01-02T12:00:00Z')).toEqual([b]);
    expect(await ids('?q=quota%20exceeded')).toEqual([b]);
    // `%` and `_` are literal, not LIKE wildcards.
    expect(await ids('?q=100%25')).toEqual([b]);
    expect(await ids('?q=a_t')).toEqual([c]);
    expect(await ids('?q=ALPHA')).toEqual([b, a]);
    expect(await ids(`?q=${c.slice(-10).toUpperCase()}`)).toEqual([c]);
    expect(await ids('?q=alpha&status=failed')).toEqual([b]);
    expect(await ids('?workflow=beta_two&triggerType=schedule')).toEqual([c]);
    expect(await ids('?q=nothing-like-it')).toEqual([]);
  });

  it('pages with a cursor, newest first, without gaps or repeats', async () => {
    const made: string[] = [];
    // Two runs share each creation time, so the id breaks the tie across page edges.
    for (let i = 0; i < 7; i++)
      made.push(await run('alpha', { created_at: `2030-02-0${1 + Math.floor(i / 2)}T00:00:00.000Z` }));
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 10; page++) {
      const res = await call('GET', `/api/v1/runs?limit=3${cursor === null ? '' : `&cursor=${cursor}`}`);
      const body = res.json() as { items: { id: string }[]; next: string | null };
      seen.push(...body.items.map((r) => r.id));
      cursor = body.next;
      if (cursor === null) break;
      expect(body.items).toHaveLength(3);
    }
    expect(seen).toHaveLength(7);
    expect(new Set(seen)).toEqual(new Set(made));
    // Newest first: creation times never go up.
    const rows = await store.handle.db.selectFrom('workflow_runs').select(['id', 'created_at']).execute();
    const at = new Map(rows.map((r) => [r.id, r.created_at]));
    const times = seen.map((id) => at.get(id)!);
    expect([...times].sort().reverse()).toEqual(times);
    // Filters hold across pages.
    const first = (await call('GET', '/api/v1/runs?limit=3&since=2030-02-02T00:00:00Z')).json();
    const second = (
      await call('GET', `/api/v1/runs?limit=3&since=2030-02-02T00:00:00Z&cursor=${first.next}`)
    ).json();
    expect([...first.items, ...second.items].map((r: { id: string }) => r.id).sort()).toEqual(
      made.slice(2).sort(),
    );
    expect(second.next).toBeNull();
  });

  it('answers 400 naming the field for bad values', async () => {
    const cases: [string, string][] = [
      ['?triggerType=cron', 'triggerType'],
      ['?since=yesterday', 'since'],
      ['?until=2030-02-30T00:00:00Z', 'until'],
      ['?since=2030-01-01T00:00:00', 'since'],
      ['?cursor=not-a-cursor', 'cursor'],
      [`?cursor=${Buffer.from('["x","y"]').toString('base64url')}`, 'cursor'],
      ['?limit=1000', 'limit'],
      ['?colour=red', 'colour'],
    ];
    for (const [query, field] of cases) {
      const res = await call('GET', `/api/v1/runs${query}`);
      expect(res.statusCode, query).toBe(400);
      expect(res.headers['content-type']).toMatch(/problem\+json/);
      expect(JSON.stringify(res.json().errors ?? res.json().detail), query).toContain(field);
    }
  });

  it("never lists another owner's runs, whatever the filter", async () => {
    const mine = await run('alpha', { created_at: '2030-03-01T00:00:00.000Z' });
    const other = await memberWithKey(store, { name: 'O', email: 'o@example.com' }, 'o');
    for (const query of ['', `?q=${mine}`, '?workflow=alpha', '?triggerType=manual'])
      expect((await call('GET', `/api/v1/runs${query}`, undefined, other.key)).json().items).toEqual([]);
  });
});
