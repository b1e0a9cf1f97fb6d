import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

/** fetch → enrich → publish: a finished run is forked from its middle step. */
const PIPELINE = (version: string, first = 'builtin/transform') => ({
  name: 'pipeline',
  version,
  steps: [
    { id: 'fetch', agent: first, input: first === 'builtin/noop' ? {} : { n: '{{ trigger.n }}' } },
    { id: 'enrich', agent: 'builtin/transform', needs: ['fetch'], input: { n: '{{ trigger.n * 2 }}' } },
    {
      id: 'publish',
      agent: 'builtin/transform',
      needs: ['enrich'],
      input: { n: '{{ steps.enrich.output.n }}' },
    },
  ],
});

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

describe.runIf(HAVE_BROWSER).each(DIALECTS)(
  'forking from the run page on %s',
  { timeout: 120_000 },
  (dialect) => {
    let swarm: Swarm;
    let browser: Browser;
    let call: ReturnType<typeof api>;

    beforeAll(async () => {
      [swarm, browser] = await Promise.all([startSwarm(dialect), launchBrowser()]);
      call = api(swarm, swarm.server.bootstrapped!.key);
      await call('POST', '/workflows', PIPELINE('1.0.0'));
    });
    afterAll(async () => {
      await browser?.close();
      await swarm?.close();
    });

    it('forks a finished run from a step in its drawer, lands on the new run and sees it complete', async () => {
      const { id } = await call<{ id: string }>('POST', '/workflows/pipeline/runs', { input: { n: 1 } });
      await until('the run to complete', async () => {
        const run = await call<{ status: string }>('GET', `/runs/${id}`);
        return run.status === 'completed';
      });
      // A newer version runs another agent at fetch: it cannot reuse fetch's output.
      await call('POST', '/workflows', PIPELINE('2.0.0', 'builtin/noop'));

      const { context, page } = await openDashboard(browser, swarm);
      await signIn(page);
      await page.goto(`/#/runs/${id}`);
      await expect.poll(() => page.getByTestId('run-status').textContent()).toBe('completed');
      await node(page, 'enrich').click();
      const drawer = page.getByTestId('step-drawer');
      await drawer.getByRole('button', { name: 'Fork from here' }).click();
      const form = drawer.getByRole('form', { name: 'Fork from enrich' });

      // On the latest version: refused, with the step that differs.
      await form.getByLabel('Version').selectOption('latest');
      await form.getByRole('button', { name: 'Fork' }).click();
      const refusal = form.getByRole('alert');
      await refusal.waitFor();
      expect(await refusal.getByRole('list', { name: 'Differences' }).textContent()).toMatch(
        /steps\.fetch.*builtin\/noop/,
      );
      expect(page.url()).toContain(id);

      // On the run's own version, with a new input: the new run's page.
      await form.getByLabel('Version').selectOption('pinned');
      await form.getByLabel(/Input/).fill('{"n": 21}');
      await form.getByRole('button', { name: 'Fork' }).click();
      await expect.poll(() => page.url(), { timeout: 10_000 }).not.toContain(id);
      const forkId = decodeURIComponent(page.url().split('#/runs/')[1]!);
      await expect
        .poll(() => page.getByTestId('run-status').textContent(), { timeout: 30_000 })
        .toBe('completed');
      const parent = page.getByTestId('run-parent');
      expect(await parent.textContent()).toBe(`${id} at step enrich`);
      expect(await node(page, 'publish').getAttribute('data-status')).toBe('completed');
      const fork = await call<{ steps: Record<string, { output?: unknown; reused_from?: string }> }>(
        'GET',
        `/runs/${forkId}`,
      );
      expect(fork.steps.fetch).toMatchObject({ reused_from: id, output: { n: 1 } });
      expect(fork.steps.publish!.output).toEqual({ n: 42 });
      // The reused step's drawer says where its output came from.
      await node(page, 'fetch').click();
      await page.getByTestId('step-drawer').getByText('(not run again)').waitFor();
      if (dialect === 'sqlite') await screenshot(page, 'run-fork');

      // The parent link leads back; the parent lists its fork.
      await parent.getByRole('link').click();
      await page.getByRole('list', { name: 'Forks' }).getByRole('link', { name: forkId }).waitFor();
      await context.close();
    });
  },
);
