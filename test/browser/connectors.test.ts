/**
 * The "Connectors" view: an admin adds an smtp connector pointing at a real SMTP server started
 * by the test, presses Test and sees ok; a taken name and a bad port are refused naming the
 * field; the connector is removed.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../helpers/databases.js';
import { startSmtp, type TestSmtp } from '../helpers/smtp.js';
import {
  HAVE_BROWSER,
  launchBrowser,
  openDashboard,
  screenshot,
  signIn,
  startSwarm,
  type Swarm,
} from './harness.js';

describe.runIf(HAVE_BROWSER).each(DIALECTS)('the Connectors view on %s', { timeout: 120_000 }, (dialect) => {
  let swarm: Swarm;
  let browser: Browser;
  let smtp: TestSmtp;

  beforeAll(async () => {
    smtp = await startSmtp();
    [swarm, browser] = await Promise.all([
      // The test's SMTP server is on loopback.
      startSwarm(dialect, { SWARM_WORKER: 'false', SWARM_ALLOW_PRIVATE_NETWORKS: 'true' }),
      launchBrowser(),
    ]);
  });
  afterAll(async () => {
    await browser?.close();
    await swarm?.close();
    await smtp?.close();
  });

  it('an admin adds an smtp connector, tests it (ok), is told what is wrong, and removes it', async () => {
    const { context, page } = await openDashboard(browser, swarm);
    await signIn(page);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Connectors' }).click();
    await page.getByText('No connectors yet.').waitFor();

    const form = page.getByRole('form', { name: 'Add a connector' });
    await form.getByLabel('Name', { exact: true }).fill('mail');
    await form.getByLabel('Type').selectOption('smtp');
    await form.getByLabel('Host').fill('127.0.0.1');
    await form.getByLabel('Port').fill(String(smtp.port));
    await form.getByLabel('TLS').selectOption('none');
    await form.getByLabel('From').fill('Swarm <swarm@example.com>');
    await form.getByRole('button', { name: 'Add' }).click();
    await form.getByRole('status').filter({ hasText: 'mail added.' }).waitFor();
    const row = page.getByRole('table', { name: 'Connectors' }).getByRole('row').filter({ hasText: 'mail' });
    await expect.poll(() => row.textContent()).toContain(`127.0.0.1:${smtp.port} (none)`);

    await page.getByRole('button', { name: 'Test mail' }).click();
    const result = page.getByRole('status', { name: 'Test result of mail' });
    await expect
      .poll(() => result.textContent(), { timeout: 20_000 })
      .toMatch(/^ok: .*accepted the connection/);
    await screenshot(page, dialect === 'sqlite' ? 'connectors' : `connectors-${dialect}`);

    // A taken name is refused; a port out of range names the field.
    await form.getByLabel('Name', { exact: true }).fill('mail');
    await form.getByLabel('Host').fill('127.0.0.1');
    await form.getByLabel('From').fill('swarm@example.com');
    await form.getByRole('button', { name: 'Add' }).click();
    await expect.poll(() => form.getByRole('alert').textContent()).toMatch(/"mail" exists already/);

    await form.getByLabel('Type').selectOption('http');
    await form.getByLabel('Name', { exact: true }).fill('api');
    await form.getByLabel('Base URL').fill('https://api.example.com');
    await form.getByLabel('Auth', { exact: true }).selectOption('bearer');
    await form.getByLabel('Auth secret').fill('NO_SUCH_SECRET');
    await form.getByRole('button', { name: 'Add' }).click();
    await expect
      .poll(() => form.getByRole('alert').textContent())
      .toMatch(/config\.auth\.secret: no global secret named "NO_SUCH_SECRET"/);
    expect(await page.getByRole('table', { name: 'Connectors' }).getByRole('row').count()).toBe(2);

    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: 'Remove mail' }).click();
    await page.getByText('No connectors yet.').waitFor();
    await context.close();
  });
});
