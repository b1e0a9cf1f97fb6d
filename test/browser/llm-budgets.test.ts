import type { Locator, Page } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

const KEY_VALUE = 'sk-llm-key-never-shown-5d21e0';
const VIEWER = { email: 'llm-viewer@example.com', password: 'viewer password 1234' };
/** Every button of the LLM view that would change something. */
const MUTATING = /^(Set|Change|Remove)\b/;

interface Budget {
  period: 'day' | 'month';
  tokens: number | null;
  costUsd: number | null;
  spent: { tokens: number; costUsd: number };
}

function api(swarm: Swarm, key: string) {
  return async <T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> => {
    const res = await fetch(`${swarm.url}/api/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...headers,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return (text === '' ? null : JSON.parse(text)) as T;
  };
}

/** A progress bar's figures: what it says was spent and its cap. */
async function bar(page: Page, name: string): Promise<{ now: string | null; max: string | null }> {
  const progress = page.getByRole('progressbar', { name, exact: true });
  return {
    now: await progress.getAttribute('aria-valuenow'),
    max: await progress.getAttribute('aria-valuemax'),
  };
}

/** The error the field's aria-describedby points at: the one shown next to it. */
async function errorOf(page: Page, field: Locator): Promise<string | null> {
  if ((await field.getAttribute('aria-invalid')) !== 'true') return null;
  const id = await field.getAttribute('aria-describedby');
  return id === null ? null : page.locator(`[id="${id}"]`).textContent();
}

describe.runIf(HAVE_BROWSER).each(DIALECTS)('the LLM view on %s', { timeout: 180_000 }, (dialect) => {
  let swarm: Swarm;
  let browser: Browser;
  let call: ReturnType<typeof api>;

  beforeAll(async () => {
    [swarm, browser] = await Promise.all([startSwarm(dialect, { SWARM_WORKER: 'false' }), launchBrowser()]);
    call = api(swarm, swarm.server.bootstrapped!.key);
    // A provider with rate limits and prices, its key in a secret the page may name but not show.
    await call('PUT', '/secrets/GATEWAY_KEY', { value: KEY_VALUE });
    await call('PUT', '/llm-providers/gateway', {
      provider: 'custom',
      base_url: 'https://llm-gateway.example.com',
      api_key_secret: 'GATEWAY_KEY',
      model: 'gpt-4o-mini',
      is_default: true,
      configuration: {
        requests_per_minute: 60,
        tokens_per_minute: 40_000,
        input_cost_per_1k: 0.00015,
        output_cost_per_1k: 0.0006,
      },
    });
  });
  afterAll(async () => {
    await browser?.close();
    await swarm?.close();
  });

  it('an admin sets a day budget, sees a refused value named under its field, removes the budget, and sees the providers', async () => {
    const { context, page } = await openDashboard(browser, swarm);
    await signIn(page);
    expect(
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link').allTextContents(),
    ).toContain('LLM');
    await page.goto('/#/llm');
    const day = page.getByRole('article', { name: 'Day budget' });
    await day.getByText('No day budget').waitFor();

    // Set: the caps typed into the form, nothing spent yet.
    const form = page.getByRole('form', { name: 'Set the day budget' });
    const tokens = form.getByLabel('Tokens');
    const cost = form.getByLabel('Cost (USD)');
    await tokens.fill('1000');
    await cost.fill('2.5');
    await form.getByRole('button', { name: 'Set', exact: true }).click();
    await expect.poll(() => bar(page, 'Day tokens')).toEqual({ now: '0', max: '1000' });
    expect(await bar(page, 'Day cost')).toEqual({ now: '0', max: '2.5' });
    const listed = await call<{ items: Budget[] }>('GET', '/budgets');
    expect(listed.items).toEqual([
      expect.objectContaining({
        period: 'day',
        tokens: 1000,
        costUsd: 2.5,
        spent: { tokens: 0, costUsd: 0 },
      }),
    ]);
    // The month has none: its card says so and offers to set one.
    await page.getByRole('article', { name: 'Month budget' }).getByText('No month budget').waitFor();
    await screenshot(page, dialect === 'sqlite' ? 'llm-budgets' : `llm-budgets-${dialect}`);

    // A value the server refuses: its problem names tokens, shown under that field; nothing changes.
    await tokens.fill('0');
    await form.getByRole('button', { name: 'Change', exact: true }).click();
    await expect.poll(() => errorOf(page, tokens)).toMatch(/tokens.*>= ?1/);
    expect(await errorOf(page, cost)).toBeNull();
    if (dialect === 'sqlite') await screenshot(page, 'llm-budgets-refused');
    expect(await bar(page, 'Day tokens')).toEqual({ now: '0', max: '1000' });
    expect((await call<{ items: Budget[] }>('GET', '/budgets')).items).toEqual([
      expect.objectContaining({ period: 'day', tokens: 1000, costUsd: 2.5 }),
    ]);
    // Both fields empty: the server asks for one of them, and says so under tokens.
    await tokens.fill('');
    await cost.fill('');
    await form.getByRole('button', { name: 'Change', exact: true }).click();
    await expect.poll(() => errorOf(page, tokens)).toMatch(/^tokens: give tokens, cost_usd or both/);
    expect(await bar(page, 'Day tokens')).toEqual({ now: '0', max: '1000' });

    // Remove, after confirming.
    page.once('dialog', (dialog) => void dialog.accept());
    await day.getByRole('button', { name: 'Remove the day budget' }).click();
    await day.getByText('No day budget').waitFor();
    expect(await page.getByRole('progressbar').count()).toBe(0);
    expect((await call<{ items: Budget[] }>('GET', '/budgets')).items).toEqual([]);

    // Providers: the limits and prices from configuration, the key's secret by name only.
    const row = page
      .getByRole('table', { name: 'LLM providers' })
      .getByRole('row')
      .filter({ hasText: 'gateway' });
    const text = await row.textContent();
    expect(text).toMatch(/gateway.*default.*custom.*gpt-4o-mini.*https:\/\/llm-gateway\.example\.com/);
    expect(text).toMatch(/GATEWAY_KEY.*in \$0\.00015, out \$0\.0006/);
    expect(text).toMatch(/60 requests, 40,000 tokens.*active/);
    expect(await page.content()).not.toContain(KEY_VALUE);
    // The viewer's check below looks for these buttons by the same pattern.
    expect(await page.getByRole('button', { name: MUTATING }).count()).toBeGreaterThan(0);
    await context.close();
  });

  it('fits a phone screen, in dark and light', async () => {
    await call('PUT', '/budgets/month', { tokens: 2_000_000, cost_usd: 150 });
    const { context, page } = await openDashboard(browser, swarm, { width: 390, height: 844 });
    await signIn(page);
    await page.goto('/#/llm');
    await page.getByRole('progressbar', { name: 'Month tokens' }).waitFor();
    for (const theme of ['dark', 'light']) {
      const current = await page.evaluate<string>('document.documentElement.dataset.theme');
      if (current !== theme) await page.getByRole('button', { name: `Switch to ${theme} theme` }).click();
      expect(await page.evaluate<string>('document.documentElement.dataset.theme')).toBe(theme);
      // Nothing wider than the screen: the providers table scrolls inside itself.
      expect(
        await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth'),
      ).toBeLessThanOrEqual(0);
      if (dialect === 'sqlite') await screenshot(page, `llm-budgets-phone-${theme}`);
    }
    await call('DELETE', '/budgets/month');
    await context.close();
  });

  it('a viewer sees their budget figures but no way to set or remove one', async () => {
    const created = await call<{ user: { id: string } }>('POST', '/users', {
      email: VIEWER.email,
      name: 'LLM viewer',
      role: 'viewer',
      password: VIEWER.password,
    });
    // A viewer may not set a budget; the admin sets one for them (acting as that owner).
    await call('PUT', '/budgets/month', { tokens: 5000, cost_usd: 3 }, { 'x-swarm-owner': created.user.id });

    const { context, page } = await openDashboard(browser, swarm);
    await signIn(page, VIEWER);
    await page.goto('/#/llm');
    await expect.poll(() => bar(page, 'Month tokens')).toEqual({ now: '0', max: '5000' });
    expect(await bar(page, 'Month cost')).toEqual({ now: '0', max: '3' });
    await page.getByRole('article', { name: 'Day budget' }).getByText('No day budget').waitFor();
    // Providers are per owner: the admin's are not the viewer's.
    await page.getByText('No LLM providers yet').waitFor();
    expect(await page.getByRole('button', { name: MUTATING }).count()).toBe(0);
    expect(await page.getByRole('form').count()).toBe(0);
    await context.close();
  });
});
