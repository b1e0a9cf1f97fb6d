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

interface RunView {
  status: string;
  steps: Record<string, { status: string; output?: unknown }>;
}

describe.runIf(HAVE_BROWSER).each(DIALECTS)('the approvals inbox on %s', { timeout: 120_000 }, (dialect) => {
  let swarm: Swarm;
  let browser: Browser;
  let call: <T>(method: string, path: string, body?: unknown) => Promise<T>;

  beforeAll(async () => {
    [swarm, browser] = await Promise.all([startSwarm(dialect, { SWARM_EXAMPLES: 'false' }), launchBrowser()]);
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

  it('approves from the inbox with the form filled in, and the run carries on to completed', async () => {
    await call('POST', '/workflows', {
      name: 'refunds',
      version: '1.0.0',
      steps: [
        {
          id: 'review',
          agent: 'builtin/approval',
          input: {
            message: 'Refund order 42 to Ada?',
            data: { order: 42, customer: 'Ada', amount: 120 },
            form: {
              type: 'object',
              required: ['amount'],
              properties: { amount: { type: 'integer', title: 'Amount to refund', maximum: 120 } },
            },
          },
        },
        {
          id: 'refund',
          agent: 'builtin/transform',
          needs: ['review'],
          input: { amount: '{{ steps.review.output.data.amount }}' },
        },
      ],
    });
    const { id: runId } = await call<{ id: string }>('POST', '/workflows/refunds/runs', { input: {} });

    const { context, page } = await openDashboard(browser, swarm);
    await signIn(page);
    const nav = page.getByRole('navigation', { name: 'Main' });
    const badge = nav.getByTestId('approvals-badge');
    await badge.waitFor();
    expect(await badge.textContent()).toBe('1');

    await nav.getByRole('link', { name: /Approvals/ }).click();
    const card = page.getByRole('article', { name: 'Approval: Refund order 42 to Ada?' });
    await card.waitFor();
    expect(await card.textContent()).toContain('"customer": "Ada"');
    await card.getByLabel(/Amount to refund/).fill('100');
    await card.getByLabel('Comment').fill('partial: the rest was a gift card');
    await screenshot(page, dialect === 'sqlite' ? 'approvals' : `approvals-${dialect}`);
    await card.getByRole('button', { name: 'Approve' }).click();
    await page.getByText('Nothing waits for a decision.').waitFor();
    await badge.waitFor({ state: 'detached' });

    const run = await until(`run ${runId} to complete`, async () => {
      const r = await call<RunView>('GET', `/runs/${runId}`);
      return r.status === 'completed' ? r : undefined;
    });
    expect(run.steps.review!.output).toMatchObject({
      approved: true,
      data: { amount: 100 },
      comment: 'partial: the rest was a gift card',
      decided_by: { email: 'admin@localhost', via: 'api' },
    });
    expect(run.steps.refund!.output).toEqual({ amount: 100 });

    await page.getByLabel('Show decided').check();
    await page.getByText('approved by admin@localhost').waitFor();
    await context.close();
  });
});
