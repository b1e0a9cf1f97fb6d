import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../helpers/databases.js';
import {
  ADMIN,
  HAVE_BROWSER,
  launchBrowser,
  openDashboard,
  screenshot,
  signIn,
  startSwarm,
  type Swarm,
} from './harness.js';

describe.runIf(HAVE_BROWSER).each(DIALECTS)(
  'the dashboard: Overview on %s',
  { timeout: 120_000 },
  (dialect) => {
    let swarm: Swarm;
    let browser: Browser;

    beforeAll(async () => {
      [swarm, browser] = await Promise.all([startSwarm(dialect), launchBrowser()]);
    });
    afterAll(async () => {
      await browser?.close();
      await swarm?.close();
    });

    it('shows the runs started through the API, live, with charts and a time range', async () => {
      const { context, page } = await openDashboard(browser, swarm);
      await signIn(page);
      // The landing view.
      expect(page.url()).toMatch(/#\/overview$/);
      await page.getByRole('heading', { name: 'Overview' }).waitFor();
      await expect.poll(() => page.getByTestId('stat-runs-started').textContent()).toContain('0');

      // Two runs of the hello example through the API, with a session of the admin's own.
      const login = await context.request.post('/api/v1/auth/login', { data: ADMIN });
      expect(login.status()).toBe(200);
      const { csrfToken } = (await login.json()) as { csrfToken: string };
      for (const name of ['Ada', 'Grace']) {
        const res = await context.request.post('/api/v1/workflows/hello/runs', {
          data: { input: { name } },
          headers: { 'x-csrf-token': csrfToken },
        });
        expect(res.status(), await res.text()).toBe(202);
      }

      // No reload: the page refreshes itself every 5 s. hello has three steps per run.
      const stat = (id: string) => page.getByTestId(`stat-${id}`).locator('.stat-value').textContent();
      await expect.poll(() => stat('runs-completed'), { timeout: 30_000 }).toBe('2');
      expect(await stat('runs-started')).toBe('2');
      expect(await stat('runs-failed')).toBe('0');
      expect(await stat('success-rate')).toBe('100%');
      expect(await stat('steps')).toBe('6');
      expect(await stat('duration-p50')).toMatch(/\d+(\.\d+)? (ms|s)/);
      expect(await stat('queue-pending')).toBe('0');
      // The charts are drawn: the runs-ended bars include two completed runs' worth.
      const chart = page.getByRole('img', { name: 'Runs ended' });
      await chart.waitFor();
      expect(await chart.locator('rect[fill="var(--ok)"]').count()).toBeGreaterThan(0);
      expect(await page.locator('svg[role="img"]').count()).toBe(6);
      await screenshot(page, `overview-${dialect}`);

      // Another range keeps the same runs (they are within 24 h too) and says so in the URL.
      await page.getByRole('button', { name: '24h' }).click();
      await expect.poll(() => page.url()).toMatch(/#\/overview\?range=24h$/);
      await expect.poll(() => stat('runs-started')).toBe('2');
      await context.close();
    });
  },
);
