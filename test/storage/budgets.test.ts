import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store, type Caller } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

describe.each(DIALECTS)('budgets and provider windows on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let alice: Caller;
  let bob: Caller;
  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    const a = (await store.system.insertUserIfAbsent({ name: 'A', email: 'a@example.com', role: 'member' }))!;
    const b = (await store.system.insertUserIfAbsent({ name: 'B', email: 'b@example.com', role: 'member' }))!;
    alice = { userId: a.id, role: 'member' };
    bob = { userId: b.id, role: 'member' };
  });
  afterAll(async () => {
    await store.close();
    await testDb.drop();
  });

  it('gives a minute no more requests than its limit, across concurrent callers', async () => {
    const minute = new Date(Date.UTC(2026, 0, 1, 10, 0));
    const limits = { requestsPerMinute: 3, tokensPerMinute: null };
    const grants = await Promise.all(
      Array.from({ length: 10 }, () =>
        store.as(alice).budgets.reserveProviderRequest('openai', minute, limits),
      ),
    );
    expect(grants.filter(Boolean)).toHaveLength(3);
    // Another provider, another owner, the next minute: each counts alone.
    expect(await store.as(alice).budgets.reserveProviderRequest('other', minute, limits)).toBe(true);
    expect(await store.as(bob).budgets.reserveProviderRequest('openai', minute, limits)).toBe(true);
    const next = new Date(minute.getTime() + 60_000);
    expect(await store.as(alice).budgets.reserveProviderRequest('openai', next, limits)).toBe(true);
  });

  it('stops a minute once its tokens reach the limit', async () => {
    const minute = new Date(Date.UTC(2026, 0, 1, 11, 0));
    const limits = { requestsPerMinute: null, tokensPerMinute: 100 };
    const budgets = store.as(alice).budgets;
    expect(await budgets.reserveProviderRequest('anthropic', minute, limits)).toBe(true);
    await budgets.addProviderTokens('anthropic', minute, 60);
    expect(await budgets.reserveProviderRequest('anthropic', minute, limits)).toBe(true);
    await budgets.addProviderTokens('anthropic', minute, 60);
    expect(await budgets.reserveProviderRequest('anthropic', minute, limits)).toBe(false);
  });

  it("keeps each owner's budgets to themselves, with what they spent this period", async () => {
    await store.as(alice).budgets.set('day', { maxTokens: 500, maxCostUsd: null });
    await store.as(alice).budgets.set('day', { maxTokens: 700, maxCostUsd: 2.5 });
    await store.as(alice).budgets.set('month', { maxTokens: null, maxCostUsd: 10 });
    const mine = await store.as(alice).budgets.list();
    expect(mine.map((b) => [b.period, b.maxTokens, b.maxCostUsd])).toEqual([
      ['day', 700, 2.5],
      ['month', null, 10],
    ]);
    expect(mine[0]!.spent).toEqual({ tokens: 0, cost: 0 });
    expect(await store.as(bob).budgets.list()).toEqual([]);
    expect(await store.as(bob).budgets.remove('day')).toBe(false);
    const limits = await store.as(alice).budgets.limits({ runId: null, stepId: null });
    expect(limits.map((l) => l.scope)).toEqual(['day', 'month']);
    expect(await store.as(alice).budgets.remove('month')).toBe(true);
    expect((await store.as(alice).budgets.list()).map((b) => b.period)).toEqual(['day']);
  });
});
