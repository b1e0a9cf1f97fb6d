/**
 * The workflow, agent, trigger, event and webhook views against a real server with the examples:
 * an admin starts `hello` from its generated form and lands on the run, toggles it, reads agents
 * and triggers; a viewer sees none of the buttons that would change anything.
 */
import type { Browser, Page } from 'playwright-core';
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

/** The admin's session from outside the browser: for setting up what the viewer looks at. */
async function adminApi(swarm: Swarm) {
  const login = await fetch(`${swarm.url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(ADMIN),
  });
  expect(login.status).toBe(200);
  const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
  const { csrfToken } = (await login.json()) as { csrfToken: string };
  return async (method: string, path: string, body?: unknown, owner?: string) => {
    const res = await fetch(`${swarm.url}/api/v1${path}`, {
      method,
      headers: {
        cookie,
        'x-csrf-token': csrfToken,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(owner === undefined ? {} : { 'x-swarm-owner': owner }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    expect(res.status, `${method} ${path}: ${text}`).toBeLessThan(300);
    return JSON.parse(text) as Record<string, unknown>;
  };
}

const buttons = (page: Page, name: RegExp) => page.getByRole('button', { name }).count();

// PostgreSQL once: the start-from-form path is the one that matters there.
describe.runIf(HAVE_BROWSER).each(DIALECTS)('the catalog views on %s', { timeout: 180_000 }, (dialect) => {
  let swarm: Swarm;
  let browser: Browser;

  beforeAll(async () => {
    [swarm, browser] = await Promise.all([startSwarm(dialect), launchBrowser()]);
  });
  afterAll(async () => {
    await browser?.close();
    await swarm?.close();
  });

  it('lists the examples, draws hello, starts it from the form and lands on its run', async () => {
    const { context, page } = await openDashboard(browser, swarm);
    await signIn(page);
    await page.getByRole('link', { name: 'Workflows', exact: true }).click();
    const list = page.getByRole('table', { name: 'Workflows' });
    for (const name of ['hello', 'feedback-triage', 'morning-digest'])
      await list.getByRole('link', { name, exact: true }).waitFor();
    if (dialect === 'sqlite') await screenshot(page, 'workflows');

    await list.getByRole('link', { name: 'hello', exact: true }).click();
    await expect.poll(() => page.url()).toMatch(/#\/workflows\/hello$/);
    const graph = page.getByTestId('workflow-graph');
    for (const step of ['greet', 'check', 'answer']) await graph.getByText(step, { exact: true }).waitFor();
    await expect.poll(() => page.getByLabel('YAML').textContent()).toContain('name: hello');
    expect(await page.getByLabel('YAML').textContent()).toContain('agent: builtin/transform');
    if (dialect === 'sqlite') await screenshot(page, 'workflow-page');

    await page.getByRole('button', { name: 'Start run' }).click();
    const form = page.getByRole('form', { name: 'Run input' });
    await form.getByLabel('name').fill('Ada Lovelace');
    await form.getByRole('button', { name: 'Start' }).click();
    await expect.poll(() => page.url()).toMatch(/#\/runs\/[0-9a-f-]{36}$/);
    const runId = page.url().split('/').pop()!;
    const run = await page.evaluate(async (id) => (await fetch(`/api/v1/runs/${id}`)).json(), runId);
    expect(run).toMatchObject({ workflow: 'hello', version: '1.0.0', trigger: { type: 'manual' } });
    // The form's value is the run's input: the greeting step read it.
    await expect
      .poll(
        async () =>
          (
            (await page.evaluate(async (id) => (await fetch(`/api/v1/runs/${id}`)).json(), runId)) as {
              status: string;
            }
          ).status,
        { timeout: 30_000 },
      )
      .toBe('completed');
    const done = (await page.evaluate(async (id) => (await fetch(`/api/v1/runs/${id}`)).json(), runId)) as {
      steps: Record<string, { output?: { greeting?: string } }>;
    };
    expect(done.steps.greet?.output?.greeting).toBe('Hello, Ada Lovelace!');
    await context.close();
  });

  it.runIf(dialect === 'sqlite')(
    'toggles a workflow, reads agents and triggers, publishes an event',
    async () => {
      const { context, page } = await openDashboard(browser, swarm);
      await signIn(page);
      await page.goto('/#/workflows/hello');
      const head = page.locator('.cat-head');
      await head.getByRole('button', { name: 'Disable' }).click();
      await head.getByText('disabled', { exact: true }).waitFor();
      const workflow = () =>
        page.evaluate(async () => (await fetch('/api/v1/workflows/hello')).json()) as Promise<{
          enabled: boolean;
        }>;
      expect((await workflow()).enabled).toBe(false);
      await head.getByRole('button', { name: 'Enable' }).click();
      await head.getByText('enabled', { exact: true }).waitFor();
      expect((await workflow()).enabled).toBe(true);

      await page.getByRole('link', { name: 'Agents', exact: true }).click();
      const agents = page.getByRole('table', { name: 'Agents' });
      await agents.getByRole('link', { name: 'sentiment', exact: true }).waitFor();
      await agents.getByRole('link', { name: 'builtin/transform', exact: true }).waitFor();
      await screenshot(page, 'agents');
      await agents.getByRole('link', { name: 'sentiment', exact: true }).click();
      await expect.poll(() => page.getByLabel('Manifest').textContent()).toContain('name: sentiment');
      await page.getByRole('table', { name: 'Agent versions' }).getByText('1.0.0').waitFor();
      await page.getByText('Trust score history').waitFor();

      await page.getByRole('link', { name: 'Triggers', exact: true }).click();
      await page.getByText(`${swarm.url}/hooks/feedback`, { exact: true }).waitFor();
      expect(
        await page.getByRole('list', { name: 'Next ticks of morning-digest' }).getByRole('listitem').count(),
      ).toBe(5);
      await screenshot(page, 'triggers');
      // Rotating shows the new secret once.
      await page
        .getByRole('article', { name: 'Trigger of feedback-triage' })
        .getByRole('button', { name: 'Rotate secret' })
        .click();
      const shown = page.getByRole('dialog', { name: 'New signing secret of feedback-triage' });
      expect(await shown.getByLabel('Signing secret').inputValue()).toMatch(/\S{16,}/);
      await shown.getByRole('button', { name: 'Done' }).click();

      // A delivery sent again gets a fresh round of attempts.
      const admin = await adminApi(swarm);
      const hook = (await admin('POST', '/webhooks', {
        name: 'admin-hook',
        url: 'https://example.com/a',
        eventTypes: ['run.*'],
      })) as { webhook: { id: string } };
      const sent = (await admin('POST', `/webhooks/${hook.webhook.id}/test`)) as { id: string };
      await page.getByRole('link', { name: 'Webhooks', exact: true }).click();
      await page.getByRole('button', { name: 'Deliveries' }).click();
      const deliveries = page.getByRole('table', { name: 'Deliveries of admin-hook' });
      await deliveries.getByText('webhook.test').waitFor();
      const redelivered = page.waitForResponse((r) =>
        r.url().endsWith(`/webhook-deliveries/${sent.id}/redeliver`),
      );
      await deliveries.getByRole('button', { name: 'Redeliver' }).click();
      expect((await redelivered).status()).toBe(202);

      await page.getByRole('link', { name: 'Events', exact: true }).click();
      const publish = page.getByRole('form', { name: 'Publish an event' });
      await publish.getByRole('button', { name: 'Publish' }).click();
      // Required fields are named before anything is sent.
      await publish.getByText('is required').first().waitFor();
      await publish.getByLabel('Source').fill('dashboard');
      await publish.getByLabel('Type').fill('test.published');
      await publish.getByLabel('Payload (JSON)').fill('{"n": 1}');
      await publish.getByRole('button', { name: 'Publish' }).click();
      await page.getByRole('table', { name: 'Events' }).getByText('dashboard / test.published').waitFor();
      await context.close();
    },
  );

  it.runIf(dialect === 'sqlite')(
    'shows a viewer no Start, Enable, Disable, Rotate, Publish or Redeliver buttons',
    async () => {
      const admin = await adminApi(swarm);
      const created = (await admin('POST', '/users', {
        name: 'Vera Viewer',
        email: 'vera@example.com',
        role: 'viewer',
      })) as {
        user: { id: string };
        password: string;
      };
      // What the viewer looks at is made theirs by the admin acting for them.
      const owner = created.user.id;
      await admin(
        'POST',
        '/workflows',
        {
          name: 'viewer-flow',
          version: '1.0.0',
          trigger: { type: 'webhook', path: 'viewer-hook' },
          steps: [{ id: 'only', agent: 'builtin/noop' }],
        },
        owner,
      );
      await admin('POST', '/events', { source: 'viewer-source', type: 'viewer.happened' }, owner);
      const hook = (await admin(
        'POST',
        '/webhooks',
        { name: 'viewer-hook', url: 'https://example.com/v', eventTypes: ['*'] },
        owner,
      )) as {
        webhook: { id: string };
      };
      await admin('POST', `/webhooks/${hook.webhook.id}/test`, undefined, owner);

      const { context, page } = await openDashboard(browser, swarm);
      await signIn(page, { email: 'vera@example.com', password: created.password });
      const nothingToChange = /^(Start run|Start|Enable|Disable|Rotate secret|Publish|Redeliver)\b/;

      await page.goto('/#/workflows');
      await page.getByRole('table', { name: 'Workflows' }).getByRole('link', { name: 'viewer-flow' }).click();
      await page.getByTestId('workflow-graph').getByText('only', { exact: true }).waitFor();
      expect(await buttons(page, nothingToChange)).toBe(0);
      await page.goto('/#/workflows');
      await page
        .getByRole('table', { name: 'Workflows' })
        .getByRole('link', { name: 'viewer-flow' })
        .waitFor();
      expect(await buttons(page, nothingToChange)).toBe(0);

      await page.getByRole('link', { name: 'Triggers', exact: true }).click();
      await page.getByText(`${swarm.url}/hooks/viewer-hook`, { exact: true }).waitFor();
      expect(await buttons(page, nothingToChange)).toBe(0);

      await page.getByRole('link', { name: 'Events', exact: true }).click();
      await page
        .getByRole('table', { name: 'Events' })
        .getByText('viewer-source / viewer.happened')
        .waitFor();
      expect(await page.getByRole('form', { name: 'Publish an event' }).count()).toBe(0);
      expect(await buttons(page, nothingToChange)).toBe(0);

      await page.getByRole('link', { name: 'Webhooks', exact: true }).click();
      await page.getByRole('button', { name: 'Deliveries' }).click();
      await page
        .getByRole('table', { name: 'Deliveries of viewer-hook' })
        .getByText('webhook.test')
        .waitFor();
      expect(await buttons(page, nothingToChange)).toBe(0);

      await page.getByRole('link', { name: 'Agents', exact: true }).click();
      await page.getByRole('table', { name: 'Agents' }).getByRole('link', { name: 'builtin/noop' }).waitFor();
      expect(await buttons(page, nothingToChange)).toBe(0);
      await context.close();
    },
  );
});
