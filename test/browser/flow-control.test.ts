import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimTasks, enqueueTasks, flowKey, MAX_LISTED_KEYS } from '../../src/queue/index.js';
import { DIALECTS } from '../helpers/databases.js';
import { HAVE_BROWSER, launchBrowser, openDashboard, signIn, startSwarm, type Swarm } from './harness.js';

describe.runIf(HAVE_BROWSER).each(DIALECTS)(
  'the flow-control table on %s',
  { timeout: 180_000 },
  (dialect) => {
    let swarm: Swarm;
    let browser: Browser;
    beforeAll(async () => {
      // No in-process worker: the test claims itself, so the keys hold what it expects.
      [swarm, browser] = await Promise.all([startSwarm(dialect, { SWARM_WORKER: 'false' }), launchBrowser()]);
    });
    afterAll(async () => {
      await browser?.close();
      await swarm?.close();
    });

    it('lists each key with its limit, running and waiting tasks, busy keys first', async () => {
      const { store } = swarm.server;
      const admin = await store.system.findFirstAdmin();
      const ownerId = admin!.id;
      const key = flowKey('concurrency', 'workflow', { ownerId, workflow: 'billing' }, 'customer-42');
      await enqueueTasks(
        store.handle.db,
        store.handle.dialect,
        [0, 1, 2].map(() => ({
          ownerId,
          taskType: 't',
          agentName: 'echo',
          input: {},
          flow: [{ key, scope: 'workflow' as const, maxRunning: 1 }],
        })),
      );
      expect(
        await claimTasks(store.handle, { workerId: 'browser-test', limit: 3, leaseMs: 120_000 }),
      ).toHaveLength(1);
      const { context, page } = await openDashboard(browser, swarm);
      await signIn(page);
      await page.goto('/#/tasks');
      const table = page.getByRole('table', { name: 'Flow control' });
      await expect.poll(() => table.locator('tbody tr').count()).toBe(1);
      const cells = await table.locator('tbody tr td').allTextContents();
      expect(cells).toEqual(['billing / customer-42', 'workflow', '1 at once', '1', '2']);

      // More keys than are listed, all set since and idle: the busy key stays first.
      const idle = await enqueueTasks(
        store.handle.db,
        store.handle.dialect,
        Array.from({ length: MAX_LISTED_KEYS }, (_, i) => ({
          ownerId,
          taskType: 't',
          input: {},
          flow: [
            {
              key: flowKey('concurrency', 'workflow', { ownerId, workflow: 'idle' }, `${i}`),
              scope: 'workflow' as const,
              maxRunning: 1,
            },
          ],
        })),
      );
      await store.handle.db
        .updateTable('tasks')
        .set({ status: 'CANCELLED', parked_key: null })
        .where('id', 'in', idle)
        .execute();
      await page.reload();
      await expect.poll(() => table.locator('tbody tr').count()).toBe(MAX_LISTED_KEYS);
      expect(await table.locator('tbody tr').first().locator('td').allTextContents()).toEqual(cells);
      await expect
        .poll(() =>
          page.getByText('Only 500 keys are shown: those with running or waiting tasks first.').count(),
        )
        .toBe(1);
      await context.close();
    });
  },
);
