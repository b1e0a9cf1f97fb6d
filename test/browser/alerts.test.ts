import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearerClient } from '../helpers/api-client.js';
import { DIALECTS } from '../helpers/databases.js';
import { until } from '../helpers/until.js';
import {
  HAVE_BROWSER,
  launchBrowser,
  openDashboard,
  screenshot,
  signIn,
  startSwarm,
  type Swarm,
} from './harness.js';

interface AlertPage {
  items: { id: string; type: string; count: number; resolved: boolean; resolvedBy: string | null }[];
  open: { total: number };
}

describe.runIf(HAVE_BROWSER).each(DIALECTS)('the alerts view on %s', { timeout: 180_000 }, (dialect) => {
  let swarm: Swarm;
  let browser: Browser;
  let call: <T>(method: string, path: string, body?: unknown) => Promise<T>;

  beforeAll(async () => {
    // Task outcomes looked at every 300 ms, so the alert shows soon after the fifth failure.
    [swarm, browser] = await Promise.all([
      startSwarm(dialect, { SWARM_ALERT_INTERVAL_MS: '300' }),
      launchBrowser(),
    ]);
    const { ok } = bearerClient(
      () => `${swarm.url}/api/v1`,
      () => swarm.server.bootstrapped!.key,
    );
    call = async <T>(method: string, path: string, body?: unknown) => (await ok(method, path, body)) as T;
  });
  afterAll(async () => {
    await browser?.close();
    await swarm?.close();
  });

  it('an agent failing 5 times shows one alert with its count and a badge; resolving it by hand clears the badge', async () => {
    const { context, page } = await openDashboard(browser, swarm);
    await signIn(page);
    const nav = page.getByRole('navigation', { name: 'Main' });
    expect(await nav.getByRole('link').allTextContents()).toContain('Alerts');
    expect(await page.getByTestId('alerts-badge').count()).toBe(0);

    // The example summarizer calls provider "local-openai", which this Swarm has not: each of
    // five tasks (no retries) fails.
    for (let i = 0; i < 5; i++)
      await call('POST', '/tasks', {
        agent: 'summarizer@1.0.0',
        input: { text: `text ${i}` },
        max_retries: 0,
      });
    const open = await until(
      'one open agent_failure alert',
      async () => {
        // Once a second: the key may make 60 requests a minute, and a loaded machine takes a while.
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const page = await call<AlertPage>('GET', '/alerts?resolved=false');
        return page.items.length === 1 && page.items[0]!.count === 5 ? page : undefined;
      },
      60_000,
    );
    expect(open.items[0]).toMatchObject({ type: 'agent_failure', count: 5 });

    await page.goto('/#/alerts');
    const badge = nav.getByTestId('alerts-badge');
    await badge.waitFor();
    expect(await badge.textContent()).toBe('1');
    const row = page.getByRole('table', { name: 'Alerts' }).locator(`tr[data-alert="${open.items[0]!.id}"]`);
    await row.waitFor();
    expect(await row.getByLabel('count').textContent()).toBe('5');
    expect(await row.textContent()).toContain('agent_failure:summarizer@1.0.0');
    await screenshot(page, dialect === 'sqlite' ? 'alerts' : `alerts-${dialect}`);

    await row.getByRole('button', { name: 'Resolve' }).click();
    await page.getByText('No open alerts.').waitFor();
    await badge.waitFor({ state: 'detached' });
    const after = await call<AlertPage>('GET', `/alerts/${open.items[0]!.id}`);
    expect(after).toMatchObject({ resolved: true, resolvedBy: swarm.server.bootstrapped!.user.id });
    // Shown again with the resolved ones.
    await page.getByLabel('Show resolved').check();
    await row.getByText('resolved by hand').waitFor();
    await context.close();
  });
});
