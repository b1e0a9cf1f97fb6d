import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunksFor } from '../../src/queue/index.js';
import { newId } from '../../src/storage/index.js';
import { DIALECTS } from '../helpers/databases.js';
import {
  HAVE_BROWSER,
  launchBrowser,
  openDashboard,
  screenshot,
  signIn,
  startSwarm,
  type Swarm,
} from './harness.js';

/** prepare → wait (builtin/delay, `ms` from the trigger) → finish. */
const WAITS = {
  name: 'waits',
  version: '1.0.0',
  steps: [
    { id: 'prepare', agent: 'builtin/transform', input: { at: 'start' } },
    { id: 'wait', agent: 'builtin/delay', needs: ['prepare'], input: { ms: '{{ trigger.ms }}' } },
    { id: 'finish', agent: 'builtin/transform', needs: ['wait'], input: { done: true } },
  ],
};
const MEMBER = { email: 'runs-member@example.com', password: 'member password 1234' };

function api(swarm: Swarm, key: string) {
  return async <T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${swarm.url}/api/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return (text === '' ? null : JSON.parse(text)) as T;
  };
}

const node = (page: Page, step: string) => page.locator(`.react-flow__node[data-id="${step}"] .wg-node`);
const nodeStatus = (page: Page, step: string) => node(page, step).getAttribute('data-status');

describe.runIf(HAVE_BROWSER).each(DIALECTS)('the Runs view on %s', { timeout: 240_000 }, (dialect) => {
  let swarm: Swarm;
  let browser: Browser;
  let call: ReturnType<typeof api>;

  beforeAll(async () => {
    [swarm, browser] = await Promise.all([startSwarm(dialect), launchBrowser()]);
    call = api(swarm, swarm.server.bootstrapped!.key);
    await call('POST', '/workflows', WAITS);
  });
  afterAll(async () => {
    await browser?.close();
    await swarm?.close();
  });

  it('lists runs live, follows a run without reloading, shows a failure in the drawer, retries and cancels', async () => {
    const { context, page } = await openDashboard(browser, swarm);
    await signIn(page);
    await page.goto('/#/runs');
    // Started through the API while the list is open: it appears without a reload.
    const hello = await call<{ id: string }>('POST', '/workflows/hello/runs', { input: { name: 'Ada' } });
    const row = page.locator(`[data-run="${hello.id}"]`);
    await row.waitFor({ timeout: 10_000 });
    await expect.poll(() => row.textContent(), { timeout: 10_000 }).toMatch(/completed/);

    // Filters: a status filter hides it, free text finds it again.
    await page.getByLabel('Status').selectOption('failed');
    await expect.poll(() => row.count()).toBe(0);
    await page.getByLabel('Status').selectOption('');
    await page.getByLabel('Search', { exact: true }).fill(hello.id.slice(-8));
    await row.waitFor();
    expect(await page.locator('[data-run]').count()).toBe(1);
    await page.getByLabel('Search', { exact: true }).fill('');
    if (dialect === 'sqlite') await screenshot(page, 'runs-list');

    // hello: each step completed.
    await row.getByRole('link').click();
    await expect.poll(() => nodeStatus(page, 'answer'), { timeout: 10_000 }).toBe('completed');
    expect(await nodeStatus(page, 'greet')).toBe('completed');
    await page.locator('[data-testid="timeline"] [data-step="greet"]').first().waitFor();

    // A run that waits 3 s: open it while `wait` runs, watch it complete with no reload.
    const slow = await call<{ id: string }>('POST', '/workflows/waits/runs', { input: { ms: 3000 } });
    await page.goto(`/#/runs/${slow.id}`);
    await page.evaluate('window.__sameDocument = true');
    await expect.poll(() => nodeStatus(page, 'wait'), { timeout: 10_000 }).toBe('running');
    expect(await nodeStatus(page, 'finish')).toBe('pending');
    await expect.poll(() => nodeStatus(page, 'finish'), { timeout: 15_000 }).toBe('completed');
    await expect.poll(() => page.getByTestId('run-status').textContent()).toBe('completed');
    expect(await page.evaluate('window.__sameDocument')).toBe(true);
    if (dialect === 'sqlite') await screenshot(page, 'run-page');

    // A failing run: `ms` is no integer, so builtin/delay refuses its input.
    const failing = await call<{ id: string }>('POST', '/workflows/waits/runs', { input: { ms: 'soon' } });
    await page.goto(`/#/runs/${failing.id}`);
    await expect.poll(() => page.getByTestId('run-status').textContent(), { timeout: 15_000 }).toBe('failed');
    await expect.poll(() => nodeStatus(page, 'wait')).toBe('failed');
    await node(page, 'wait').click();
    const drawer = page.getByTestId('step-drawer');
    await expect.poll(() => drawer.getByRole('alert').textContent()).toMatch(/ms/);
    await expect.poll(() => drawer.getByRole('list', { name: 'Logs' }).textContent()).toMatch(/wait/);
    await expect.poll(() => drawer.locator('.run-attempts tbody tr').count()).toBeGreaterThan(0);
    if (dialect === 'sqlite') await screenshot(page, 'run-drawer');
    await page.getByRole('button', { name: 'Retry from failed' }).click();
    await expect
      .poll(() => page.locator('.run-head').textContent(), { timeout: 15_000 })
      .toMatch(/attempt 2/);
    await expect.poll(() => page.getByTestId('run-status').textContent(), { timeout: 15_000 }).toBe('failed');
    // From the failed step: `prepare` kept its output, `wait` ran again (its first task is run #1's).
    const retried = await call<{ attempt: number; steps: Record<string, { status: string }> }>(
      'GET',
      `/runs/${failing.id}`,
    );
    expect(retried.attempt).toBe(2);
    expect(retried.steps.prepare!.status).toBe('completed');
    await expect
      .poll(() => drawer.locator('.run-attempts tbody tr').allTextContents(), { timeout: 10_000 })
      .toEqual(expect.arrayContaining([expect.stringMatching(/run #1/)]));

    // A long run: Cancel.
    const long = await call<{ id: string }>('POST', '/workflows/waits/runs', { input: { ms: 600_000 } });
    await page.goto(`/#/runs/${long.id}`);
    await expect.poll(() => nodeStatus(page, 'wait'), { timeout: 10_000 }).toBe('running');
    await page.getByRole('button', { name: 'Cancel' }).click();
    await expect
      .poll(() => page.getByTestId('run-status').textContent(), { timeout: 10_000 })
      .toBe('cancelled');
    await page.getByRole('button', { name: 'Retry', exact: true }).waitFor();
    await context.close();
  });

  it("a member sees neither another member's runs nor their run page", async () => {
    await call('POST', '/users', {
      email: MEMBER.email,
      name: 'Runs member',
      role: 'member',
      password: MEMBER.password,
    });
    const someone = await call<{ id: string }>('POST', '/workflows/hello/runs', {});
    const { context, page } = await openDashboard(browser, swarm);
    await signIn(page, MEMBER);
    await page.goto('/#/runs');
    await page.getByText('No runs yet.').waitFor();
    await page.goto(`/#/runs/${someone.id}`);
    await expect.poll(() => page.getByRole('alert').first().textContent()).toMatch(/not found/i);
    // Not even through the API with the member's session.
    const status = await page.evaluate(
      async (id) => (await fetch(`/api/v1/runs/${id}/attempts`, { credentials: 'same-origin' })).status,
      someone.id,
    );
    expect(status).toBe(404);
    await context.close();
  });

  it.runIf(dialect === 'sqlite')(
    'stays responsive with 10,000 runs and a 10,000-item fan-out (time to interactive printed)',
    async () => {
      const store = swarm.server.store;
      const { db, dialect: adapter } = store.handle;
      // 10,000 runs, written straight to the store: copies of a real run with new ids and times.
      const seed = await call<{ id: string }>('POST', '/workflows/hello/runs', { input: { name: 'seed' } });
      const template = await db
        .selectFrom('workflow_runs')
        .selectAll()
        .where('id', '=', seed.id)
        .executeTakeFirstOrThrow();
      const base = Date.now() - 10_000 * 1000;
      const rows = Array.from({ length: 10_000 }, (_, i) => ({
        ...template,
        id: newId(),
        // Read back as a boolean (PostgreSQL) or 0/1 (SQLite); written as 0/1 on both.
        is_replay: 0 as const,
        status: i % 10 === 0 ? 'failed' : 'completed',
        error: i % 10 === 0 ? `bulk failure ${i}` : null,
        created_at: new Date(base + i * 1000).toISOString(),
        updated_at: new Date(base + i * 1000).toISOString(),
      }));
      const t0 = Date.now();
      await adapter.writeTransaction(db, async (trx) => {
        for (const chunk of chunksFor(adapter, rows, Object.keys(template).length))
          await trx.insertInto('workflow_runs').values(chunk).execute();
      });
      console.log(`perf: inserted 10,000 runs in ${Date.now() - t0} ms`);

      await call('POST', '/workflows', {
        name: 'fan-10k',
        version: '1.0.0',
        steps: [
          { id: 'each', agent: 'builtin/transform', for_each: '[1..10000]', input: { n: '{{ item }}' } },
        ],
      });
      const fan = await call<{ id: string }>('POST', '/workflows/fan-10k/runs', {});

      const { context, page } = await openDashboard(browser, swarm);
      await signIn(page);
      // The list: navigation → first rows drawn and the "Load more" button usable.
      let start = Date.now();
      await page.goto('/#/runs?since=');
      await page.getByRole('button', { name: 'Load more' }).waitFor({ timeout: 30_000 });
      const listTti = Date.now() - start;
      const drawn = await page.locator('[data-run]').count();
      expect(drawn).toBeGreaterThan(0);
      expect(drawn).toBeLessThan(100);
      await page.getByRole('button', { name: 'Load more' }).click();
      await expect.poll(() => page.locator('[role="table"]').getAttribute('data-count')).toBe('200');

      // The run page of the 10,000-item fan-out: a fresh document, so the time counts it all.
      await page.goto('about:blank');
      start = Date.now();
      await page.goto(`/#/runs/${fan.id}`);
      await node(page, 'each').waitFor({ timeout: 60_000 });
      await page.locator('[data-testid="timeline"] [data-step="each"]').first().waitFor({ timeout: 60_000 });
      const runReady = Date.now() - start;
      // Interactive: a click on a timeline bar opens the step's drawer.
      await page.locator('[data-testid="timeline"] [data-step="each"]').first().click();
      await page.getByTestId('step-drawer').waitFor();
      const runTti = Date.now() - start;
      const label = await node(page, 'each').locator('.wg-state').textContent();
      expect(label).toMatch(/^\d+\/10000 done/);
      // Windowed: far fewer rows mounted than attempts listed.
      expect(await page.locator('[data-testid="timeline"] [role="row"]').count()).toBeLessThan(100);
      console.log(
        `perf (${dialect}): runs list with 10,000 runs interactive in ${listTti} ms; run page of a 10,000-item fan-out (${label}) drawn in ${runReady} ms, interactive (bar clicked, drawer open) in ${runTti} ms`,
      );
      const state = await call<{ status: string }>('GET', `/runs/${fan.id}`);
      if (state.status === 'running') await call('POST', `/runs/${fan.id}/cancel`, {});
      await context.close();
    },
  );
});
