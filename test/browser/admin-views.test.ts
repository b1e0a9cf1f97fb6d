import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimTasks } from '../../src/queue/index.js';
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

const SECRET_VALUE = 'very-secret-value-7f3a9c';
/** Names of every button that would change something on Keys, Secrets and Users. */
const MUTATING = /^(Create|Revoke|Set|Delete|Disable|Enable|Reset)\b/;

/** Reads the value a "shown once" dialog shows, then closes it. */
async function readShownOnce(page: Page, label: string): Promise<string> {
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  await expect.poll(() => dialog.getByRole('note').textContent()).toMatch(/shown once/i);
  const value = await dialog.getByLabel(label).inputValue();
  await dialog.getByRole('button', { name: 'Done' }).click();
  await dialog.waitFor({ state: 'hidden' });
  return value;
}

async function navLinks(page: Page): Promise<string[]> {
  return page.getByRole('navigation', { name: 'Main' }).getByRole('link').allTextContents();
}

describe.runIf(HAVE_BROWSER).each(DIALECTS)('the admin views on %s', { timeout: 180_000 }, (dialect) => {
  let swarm: Swarm;
  let browser: Browser;
  let adminKey: string;
  const people: Record<'member' | 'viewer', { email: string; password: string }> = {
    member: { email: 'member@example.com', password: '' },
    viewer: { email: 'viewer@example.com', password: '' },
  };

  const call = (path: string, key: string, init: RequestInit = {}) =>
    fetch(`${swarm.url}/api/v1${path}`, {
      ...init,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    });

  beforeAll(async () => {
    // No in-process worker: the test claims a task itself, so the queue holds what it expects.
    [swarm, browser] = await Promise.all([startSwarm(dialect, { SWARM_WORKER: 'false' }), launchBrowser()]);
    adminKey = swarm.server.bootstrapped!.key;
  });
  afterAll(async () => {
    await browser?.close();
    await swarm?.close();
  });

  it('an admin creates a key (shown once) and revokes it, sets and deletes a secret, creates users, reads the audit log and the queue', async () => {
    const { context, page } = await openDashboard(browser, swarm);
    await signIn(page);
    expect(await navLinks(page)).toEqual(
      expect.arrayContaining(['Tasks', 'Secrets', 'Keys', 'Users', 'Audit']),
    );

    // Keys: create, shown once, works; revoked, it gets 401.
    await page.goto('/#/keys');
    const form = page.getByRole('form', { name: 'New API key' });
    await form.getByLabel('Name').fill('ci key');
    await form.getByLabel('runs:read').check();
    await form.getByLabel('Per minute').fill('30');
    await form.getByRole('button', { name: 'Create key' }).click();
    const key = await readShownOnce(page, 'API key');
    expect(key.length).toBeGreaterThan(20);
    expect(await page.content()).not.toContain(key);
    const row = page.getByRole('row').filter({ hasText: 'ci key' });
    await expect.poll(() => row.textContent()).toMatch(/runs:read.*30\/min.*active/);
    expect((await call('/runs', key)).status).toBe(200);
    await screenshot(page, dialect === 'sqlite' ? 'keys' : `keys-${dialect}`);
    page.once('dialog', (d) => void d.accept());
    await row.getByRole('button', { name: 'Revoke ci key' }).click();
    await expect.poll(() => row.textContent()).toMatch(/revoked/);
    expect((await call('/runs', key)).status).toBe(401);
    // The sessions section lists this browser's session.
    await expect
      .poll(() => page.getByRole('table', { name: 'Sessions' }).textContent())
      .toMatch(/this browser/);

    // Secrets: the value goes in and never shows up again.
    await page.goto('/#/secrets');
    const secretForm = page.getByRole('form', { name: 'Set a secret' });
    await secretForm.getByLabel('Name').fill('API_TOKEN');
    const valueInput = secretForm.getByLabel('Value');
    expect(await valueInput.getAttribute('type')).toBe('password');
    await valueInput.fill(SECRET_VALUE);
    await secretForm.getByRole('button', { name: 'Set', exact: true }).click();
    const secretRow = page.getByRole('row').filter({ hasText: 'API_TOKEN' });
    await secretRow.waitFor();
    expect(await valueInput.inputValue()).toBe('');
    expect(await page.content()).not.toContain(SECRET_VALUE);
    const listed = (await (await call('/secrets', adminKey)).json()) as { items: { name: string }[] };
    expect(listed.items.map((s: { name: string }) => s.name)).toContain('API_TOKEN');
    await screenshot(page, dialect === 'sqlite' ? 'secrets' : `secrets-${dialect}`);
    page.once('dialog', (d) => void d.accept());
    await secretRow.getByRole('button', { name: 'Delete API_TOKEN' }).click();
    await secretRow.waitFor({ state: 'detached' });
    expect(((await (await call('/secrets', adminKey)).json()) as { items: unknown[] }).items).toEqual([]);

    // Users: a member and a viewer, with generated passwords read from the dialog.
    await page.goto('/#/users');
    const userForm = page.getByRole('form', { name: 'New user' });
    for (const role of ['member', 'viewer'] as const) {
      await userForm.getByLabel('Email').fill(people[role].email);
      await userForm.getByLabel('Role').selectOption(role);
      await userForm.getByRole('button', { name: 'Create user' }).click();
      people[role].password = await readShownOnce(page, 'Password');
      expect(people[role].password.length).toBeGreaterThanOrEqual(12);
      await page.getByRole('row').filter({ hasText: people[role].email }).waitFor();
    }
    expect(await page.getByLabel(`Role of ${people.viewer.email}`).inputValue()).toBe('viewer');
    await screenshot(page, dialect === 'sqlite' ? 'users' : `users-${dialect}`);

    // Audit: the key's creation and revocation, each row opening to its metadata.
    await page.goto('/#/audit');
    const audit = page.getByRole('table', { name: 'Audit log' });
    await expect.poll(() => audit.textContent()).toMatch(/key\.revoke/);
    expect(await audit.textContent()).toMatch(/key\.create/);
    await page.getByLabel('Action').fill('key.create');
    await page.getByRole('button', { name: 'Filter' }).click();
    await expect
      .poll(async () => new Set((await audit.locator('tbody code').allTextContents()).map((a) => a.trim())))
      .toEqual(new Set(['key.create']));
    await audit
      .getByRole('button', { name: /^Details of key\.create/ })
      .first()
      .click();
    await expect.poll(() => audit.getByLabel('Metadata').first().textContent()).toMatch(/\{/);
    await screenshot(page, dialect === 'sqlite' ? 'audit' : `audit-${dialect}`);

    // The queue: four tasks for echo, one held by a worker this test plays.
    for (let i = 0; i < 4; i++) {
      const res = await call('/tasks', adminKey, {
        method: 'POST',
        body: JSON.stringify({ agent: 'echo', input: { text: `hello ${i}` } }),
      });
      expect(res.status, await res.clone().text()).toBe(201);
    }
    await claimTasks(swarm.server.store.handle, {
      workerId: 'worker-browser-test',
      limit: 1,
      leaseMs: 120_000,
    });
    await page.goto('/#/tasks');
    const depth = page.getByLabel('Queue depth');
    await expect.poll(() => depth.textContent()).toMatch(/3pending.*1running/);
    await expect
      .poll(() => page.getByRole('table', { name: 'Workers' }).textContent())
      // The holder is the worker id: a running attempt is its task row, which keeps no host or pid.
      .toMatch(/worker-browser-test.*echo@/);
    await expect.poll(() => page.getByRole('table', { name: 'Tasks' }).locator('tbody tr').count()).toBe(4);
    await page.getByLabel('Status').selectOption('RUNNING');
    await expect.poll(() => page.getByRole('table', { name: 'Tasks' }).locator('tbody tr').count()).toBe(1);
    expect(page.url()).toMatch(/#\/tasks\?status=RUNNING$/);
    await page.getByLabel('Status').selectOption('');
    await screenshot(page, dialect === 'sqlite' ? 'queue' : `queue-${dialect}`);
    await context.close();
  });

  it('a viewer sees no mutating buttons and no Users view; a member no Users view', async () => {
    // The member: may create keys (so the viewer's check below can fail), no Users entry.
    {
      const { context, page } = await openDashboard(browser, swarm);
      await signIn(page, people.member);
      const links = await navLinks(page);
      expect(links).toEqual(expect.arrayContaining(['Tasks', 'Secrets', 'Keys', 'Audit']));
      expect(links).not.toContain('Users');
      await page.goto('/#/keys');
      await page.getByRole('button', { name: 'Create key' }).waitFor();
      // The pattern the viewer's check uses does find the buttons when they are there.
      expect(await page.getByRole('button', { name: MUTATING }).count()).toBeGreaterThan(0);
      await page.goto('/#/secrets');
      await page.getByRole('button', { name: 'Set', exact: true }).waitFor();
      await context.close();
    }

    const { context, page } = await openDashboard(browser, swarm);
    await signIn(page, people.viewer);
    const links = await navLinks(page);
    expect(links).toEqual(expect.arrayContaining(['Tasks', 'Secrets', 'Keys', 'Audit']));
    expect(links).not.toContain('Users');

    await page.goto('/#/keys');
    await page.getByText('No API keys yet.').waitFor();
    await page.getByRole('table', { name: 'Sessions' }).waitFor();
    expect(await page.getByRole('button', { name: MUTATING }).count()).toBe(0);
    expect(await page.getByRole('form', { name: 'New API key' }).count()).toBe(0);

    await page.goto('/#/secrets');
    await page.getByText('No secrets yet.').waitFor();
    expect(await page.getByRole('button', { name: MUTATING }).count()).toBe(0);
    expect(await page.getByRole('form', { name: 'Set a secret' }).count()).toBe(0);

    // Users is no view of a viewer's: the address leads back to the first view it has.
    await page.goto('/#/users');
    await expect.poll(() => page.url()).not.toMatch(/#\/users/);
    expect(await page.getByRole('heading', { name: 'Users' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: MUTATING }).count()).toBe(0);
    await context.close();
  });
});
