/**
 * Values kept as blobs in the dashboard: with a 1 KiB SWARM_PAYLOAD_INLINE_MAX an event's large
 * payload is a link object in the events list, and the Events page shows a Download link to it
 * (which the page's own session can follow) instead of printing the link object; a small payload
 * is still printed.
 */
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

/** The least the config allows: anything a few KiB long is a blob. */
const INLINE_MAX = 1024;

async function publish(
  swarm: Swarm,
  event: { source: string; type: string; payload: unknown },
): Promise<string> {
  const login = await fetch(`${swarm.url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(ADMIN),
  });
  expect(login.status).toBe(200);
  const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
  const { csrfToken } = (await login.json()) as { csrfToken: string };
  const res = await fetch(`${swarm.url}/api/v1/events`, {
    method: 'POST',
    headers: { cookie, 'x-csrf-token': csrfToken, 'content-type': 'application/json' },
    body: JSON.stringify(event),
  });
  const text = await res.text();
  expect(res.status, text).toBeLessThan(300);
  return (JSON.parse(text) as { id: string }).id;
}

describe.runIf(HAVE_BROWSER).each(DIALECTS)(
  'blob links in the dashboard on %s',
  { timeout: 180_000 },
  (dialect) => {
    let swarm: Swarm;
    let browser: Browser;

    beforeAll(async () => {
      [swarm, browser] = await Promise.all([
        startSwarm(dialect, { SWARM_PAYLOAD_INLINE_MAX: String(INLINE_MAX) }),
        launchBrowser(),
      ]);
    });
    afterAll(async () => {
      await browser?.close();
      await swarm?.close();
    });

    it('shows a large event payload as a Download link the session can follow, a small one as JSON', async () => {
      const large = {
        marker: 'large-payload-marker',
        lines: Array.from({ length: 200 }, (_, i) => `line ${i} of a payload over the inline threshold`),
      };
      expect(JSON.stringify(large).length).toBeGreaterThan(4 * INLINE_MAX);
      await publish(swarm, { source: 'browser', type: 'big.payload', payload: large });
      await publish(swarm, {
        source: 'browser',
        type: 'small.payload',
        payload: { small: 'small-payload-marker' },
      });

      const { context, page } = await openDashboard(browser, swarm);
      await signIn(page);
      // The list itself answers with the link object: what the page has to render.
      const listed = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/events');
      await page.getByRole('link', { name: 'Events', exact: true }).click();
      const items = ((await (await listed).json()) as { items: { type: string; payload: unknown }[] }).items;
      const link = items.find((e) => e.type === 'big.payload')!.payload as Record<string, unknown>;
      expect(Object.keys(link).sort()).toEqual(['$blob', 'size', 'url']);
      expect(link.$blob).toMatch(/^sha256:[0-9a-f]{64}$/);
      const hex = (link.$blob as string).slice('sha256:'.length);
      expect(link.url).toBe(`/api/v1/blobs/${hex}`);

      const table = page.getByRole('table', { name: 'Events' });
      const bigRow = table.getByRole('row').filter({ hasText: 'browser / big.payload' });
      const smallRow = table.getByRole('row').filter({ hasText: 'browser / small.payload' });
      await bigRow.getByText('JSON', { exact: true }).click();
      await smallRow.getByText('JSON', { exact: true }).click();

      const download = bigRow.getByRole('link', { name: 'Download' });
      await download.waitFor();
      expect(await download.getAttribute('href')).toBe(`/api/v1/blobs/${hex}`);
      expect(await download.getAttribute('download')).not.toBeNull();
      const line = await bigRow.locator('.stored-value-line').textContent();
      expect(line).toMatch(/Stored value, \d+(\.\d)? kB/);
      expect(await bigRow.textContent()).not.toContain('$blob');
      expect(await bigRow.locator('pre').count()).toBe(0);

      // The link with the page's own cookies (what a click on Download sends) is the whole payload.
      const followed = await page.request.get((await download.getAttribute('href'))!);
      expect(followed.status()).toBe(200);
      expect(await followed.json()).toEqual(large);

      // Small enough to show in place.
      await bigRow.getByRole('button', { name: 'Show' }).click();
      await expect.poll(() => bigRow.locator('pre').textContent()).toContain('large-payload-marker');
      expect(JSON.parse((await bigRow.locator('pre').textContent())!)).toEqual(large);

      const smallJson = smallRow.locator('pre');
      expect(JSON.parse((await smallJson.textContent())!)).toEqual({ small: 'small-payload-marker' });
      expect(await smallRow.getByRole('link', { name: 'Download' }).count()).toBe(0);
      if (dialect === 'sqlite') await screenshot(page, 'events-blob-link');
      await context.close();
    });
  },
);
