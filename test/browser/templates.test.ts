import type { Browser, Locator, Page } from 'playwright-core';
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

/** One per pattern and consensus strategy (templates/*.yaml). */
const BUILTIN = [
  'sequential',
  'concurrent',
  'hierarchical',
  'round-robin',
  'selector',
  'mesh',
  'handoff',
  'consensus-voting',
  'consensus-weighted',
  'consensus-judge',
  'consensus-mixture',
];

/** The error a field's aria-describedby points at first: the one shown next to it. */
async function errorOf(page: Page, field: Locator): Promise<string | null> {
  if ((await field.getAttribute('aria-invalid')) !== 'true') return null;
  const id = (await field.getAttribute('aria-describedby'))?.split(' ')[0];
  return id === undefined ? null : page.locator(`[id="${id}"]`).textContent();
}

describe.runIf(HAVE_BROWSER).each(DIALECTS)(
  'the new-workflow page on %s',
  { timeout: 180_000 },
  (dialect) => {
    let swarm: Swarm;
    let browser: Browser;
    let call: <T>(method: string, path: string, body?: unknown) => Promise<{ status: number; body: T }>;

    beforeAll(async () => {
      [swarm, browser] = await Promise.all([startSwarm(dialect), launchBrowser()]);
      const key = swarm.server.bootstrapped!.key;
      call = async <T>(method: string, path: string, body?: unknown) => {
        const res = await fetch(`${swarm.url}/api/v1${path}`, {
          method,
          headers: {
            authorization: `Bearer ${key}`,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        const text = await res.text();
        return { status: res.status, body: (text === '' ? null : JSON.parse(text)) as T };
      };
    });
    afterAll(async () => {
      await browser?.close();
      await swarm?.close();
    });

    const workflowNames = async () =>
      (await call<{ items: { name: string }[] }>('GET', '/workflows')).body.items.map((w) => w.name);

    it('lists the templates, refuses a bad parameter inline, creates a workflow from sequential, and shows its run in the history', async () => {
      const before = await workflowNames();
      const { context, page } = await openDashboard(browser, swarm);
      await signIn(page);
      await page.goto('/#/workflows');
      await page.getByRole('button', { name: 'New workflow' }).click();

      // Every built-in template, with its pattern and declared parameters.
      const table = page.getByRole('table', { name: 'Templates' });
      await table.waitFor();
      const listed = await table
        .locator('tbody tr')
        .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-template')));
      expect(listed).toEqual(expect.arrayContaining(BUILTIN));
      // A page of the Workflows view: no nav entry of its own.
      const nav = page.getByRole('navigation', { name: 'Main' });
      expect(await nav.getByRole('link', { name: 'Workflows' }).getAttribute('aria-current')).toBe('page');
      expect(await nav.getByRole('link', { name: 'New workflow' }).count()).toBe(0);
      const sequential = table.locator('tr[data-template="sequential"]');
      expect(await sequential.locator('td').nth(1).textContent()).toBe('sequential');
      expect(await sequential.locator('.cat-tag').allTextContents()).toEqual(['name', 'first', 'second']);
      expect(await sequential.textContent()).toMatch(/A chain of two agents.*built-in/);
      expect(await table.locator('tr[data-template="consensus-voting"] td').nth(1).textContent()).toBe(
        'consensus',
      );
      if (dialect === 'sqlite') await screenshot(page, 'templates');

      await sequential.getByRole('link', { name: 'sequential' }).click();
      const form = page.getByRole('form', { name: 'New workflow' });
      const workflowName = form.getByLabel('Workflow name', { exact: true });
      const first = form.getByLabel('first', { exact: true });
      const second = form.getByLabel('second', { exact: true });
      await expect.poll(() => workflowName.inputValue()).toBe('my-sequential');
      expect(await page.getByLabel('Template YAML').textContent()).toContain('{{ params.first }}');

      // A bad parameter: its error is shown under it, naming it, and nothing is created.
      await workflowName.fill('chain-from-template');
      await first.fill('builtin/{{ trigger }}');
      await second.fill('builtin/transform');
      await form.getByRole('button', { name: 'Create workflow' }).click();
      await expect.poll(() => errorOf(page, first)).toMatch(/^parameters\.first: may not contain "\{\{"/);
      expect(await errorOf(page, second)).toBeNull();
      expect(await errorOf(page, workflowName)).toBeNull();
      if (dialect === 'sqlite') await screenshot(page, 'templates-refused');
      // A name the workflow schema refuses: said under the workflow name field.
      await first.fill('builtin/transform');
      await workflowName.fill('Bad Name!');
      await form.getByRole('button', { name: 'Create workflow' }).click();
      await expect.poll(() => errorOf(page, workflowName)).toMatch(/name/);
      expect(await errorOf(page, first)).toBeNull();
      expect(page.url()).toMatch(/#\/templates\/sequential$/);
      expect(await workflowNames()).toEqual(before);

      // Good parameters: the workflow is created and its page opened.
      await workflowName.fill('chain-from-template');
      await form.getByRole('button', { name: 'Create workflow' }).click();
      await page.getByRole('heading', { name: 'chain-from-template', level: 1 }).waitFor();
      expect(page.url()).toMatch(/#\/workflows\/chain-from-template$/);
      const made = await call<{ definition: { steps: { id: string; agent: string }[] } }>(
        'GET',
        '/workflows/chain-from-template',
      );
      expect(made.status).toBe(200);
      expect(made.body.definition.steps.map((s) => [s.id, s.agent])).toEqual([
        ['first', 'builtin/transform'],
        ['second', 'builtin/transform'],
      ]);
      expect((await workflowNames()).sort()).toEqual([...before, 'chain-from-template'].sort());

      // It is in the Workflows list.
      await nav.getByRole('link', { name: 'Workflows' }).click();
      await page
        .getByRole('table', { name: 'Workflows' })
        .locator('tr[data-workflow="chain-from-template"]')
        .waitFor();

      // A run of it, once finished, is archived and listed in the history.
      const run = await call<{ id: string }>('POST', '/workflows/chain-from-template/runs', {
        input: { text: 'hello' },
      });
      expect(run.status).toBe(202);
      // Finished first (a loaded machine runs it slowly), then archived within a sweep or two.
      await expect
        .poll(async () => (await call<{ status: string }>('GET', `/runs/${run.body.id}`)).body.status, {
          timeout: 60_000,
          interval: 500,
        })
        .toBe('completed');
      await page.goto('/#/history?workflow=chain-from-template');
      const row = page.getByRole('table', { name: 'Archived runs' }).locator(`tr[data-run="${run.body.id}"]`);
      await expect
        .poll(
          async () => {
            // The rows come after the page's load event: wait for them a while before reloading.
            await page.reload();
            return row.waitFor({ timeout: 3000 }).then(
              () => 1,
              () => 0,
            );
          },
          { timeout: 30_000, interval: 500 },
        )
        .toBe(1);
      expect(await row.textContent()).toMatch(/chain-from-template@1\.0\.0.*completed/);
      await context.close();
    }, 120_000);

    it('a viewer sees the templates but no form to create a workflow', async () => {
      const viewer = { email: 'tpl-viewer@example.com', password: 'viewer password 1234' };
      const created = await call('POST', '/users', { ...viewer, name: 'Viewer', role: 'viewer' });
      expect(created.status).toBe(201);
      const { context, page } = await openDashboard(browser, swarm);
      await signIn(page, viewer);
      await page.goto('/#/workflows');
      await page.getByRole('heading', { name: 'Workflows', level: 1 }).waitFor();
      expect(await page.getByRole('button', { name: 'New workflow' }).count()).toBe(0);
      await page.goto('/#/templates/sequential');
      await page.getByText('You may read templates but not create workflows.').waitFor();
      expect(await page.getByRole('form').count()).toBe(0);
      await context.close();
    });
  },
);
