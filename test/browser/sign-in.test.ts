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
  'the dashboard: signing in on %s',
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

    it('refuses a wrong password with a message, then signs in and out with the session cookie', async () => {
      const { context, page } = await openDashboard(browser, swarm);
      await page.getByLabel('Email').fill(ADMIN.email);
      await page.getByLabel('Password').fill('not the password');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/email or password/i);
      await screenshot(page, `sign-in-${dialect}`);

      await signIn(page);
      expect(page.url()).toMatch(/#\/overview$/);
      const cookies = await context.cookies();
      expect(cookies.find((c) => c.name === 'swarm_session')).toMatchObject({
        httpOnly: true,
        sameSite: 'Strict',
      });
      // A reload keeps the session.
      await page.reload();
      await page.getByRole('button', { name: 'Sign out' }).waitFor();
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('button', { name: 'Sign in' }).waitFor();
      await page.reload();
      await page.getByRole('button', { name: 'Sign in' }).waitFor();
      await context.close();
    });

    it('is usable at phone width, in dark and light', async () => {
      const { context, page } = await openDashboard(browser, swarm, { width: 390, height: 844 });
      await signIn(page);
      const toggle = page.getByRole('button', { name: /Switch to (dark|light) theme/ });
      const before = await page.evaluate<string>('document.documentElement.dataset.theme');
      await toggle.click();
      const after = await page.evaluate<string>('document.documentElement.dataset.theme');
      expect(new Set([before, after])).toEqual(new Set(['dark', 'light']));
      // Nothing wider than the screen but tables, which scroll inside themselves.
      const overflow = await page.evaluate<number>(
        'document.documentElement.scrollWidth - window.innerWidth',
      );
      expect(overflow).toBeLessThanOrEqual(0);
      await screenshot(page, `phone-${dialect}`);
      await context.close();
    });
  },
);
