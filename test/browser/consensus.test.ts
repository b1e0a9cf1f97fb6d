import type { Browser, Page } from 'playwright-core';
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

const node = (page: Page, step: string) => page.locator(`.react-flow__node[data-id="${step}"] .wg-node`);

/**
 * A consensus step's drawer shows the decision as recorded: the decision, its confidence, the
 * votes (or the judge's reasoning) and each member's result. The example release-* workflows
 * run with process agents only (three reviewers with fixed opinions).
 */
describe.runIf(HAVE_BROWSER).each(DIALECTS)(
  'consensus in the run page on %s',
  { timeout: 240_000 },
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

    async function start(workflow: string): Promise<string> {
      const res = await fetch(`${swarm.url}/api/v1/workflows/${workflow}/runs`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${swarm.server.bootstrapped!.key}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ input: { tests_passed: true, lines_changed: 300, has_docs: false } }),
      });
      expect(res.status).toBe(202);
      return ((await res.json()) as { id: string }).id;
    }

    it("shows a vote's decision, confidence, tally and members, and a judge's reasoning", async () => {
      const { context, page } = await openDashboard(browser, swarm);
      await signIn(page);
      const voted = await start('release-vote');
      await page.goto(`/#/runs/${voted}`);
      await expect
        .poll(() => page.getByTestId('run-status').textContent(), { timeout: 30_000 })
        .toBe('completed');
      await node(page, 'review').click();
      const panel = page.getByTestId('step-drawer').getByTestId('consensus');
      await expect
        .poll(() => panel.getByTestId('consensus-decision').textContent())
        .toBe('{"verdict":"approve"}');
      expect(await panel.getByTestId('consensus-confidence').textContent()).toBe('67%');
      const votes = panel.getByRole('table', { name: 'Votes' }).locator('tbody tr');
      expect(await votes.allTextContents()).toEqual([
        expect.stringMatching(/^\{"verdict":"approve"\}2review__2, review__3$/),
        expect.stringMatching(/^\{"verdict":"reject"\}1review__1$/),
      ]);
      const members = await panel
        .getByRole('list', { name: 'Member results' })
        .locator('li')
        .allTextContents();
      expect(members).toHaveLength(3);
      expect(members[0]).toMatch(/review__1 reviewer-strict@1\.0\.0.*reject/s);
      expect(await panel.textContent()).toMatch(/Quorum2 \(reached\)/);
      if (dialect === 'sqlite') await screenshot(page, 'consensus-vote');

      // A judge: its choice and reasoning; no tally.
      const judged = await start('release-judge');
      await page.goto(`/#/runs/${judged}`);
      await expect
        .poll(() => page.getByTestId('run-status').textContent(), { timeout: 30_000 })
        .toBe('completed');
      await node(page, 'review').click();
      await expect
        .poll(() => panel.getByTestId('consensus-reasoning').textContent())
        .toMatch(/^chose candidate 1: candidate 1 is the longest/);
      expect(await panel.getByRole('table', { name: 'Votes' }).count()).toBe(0);
      // A member step has no consensus panel of its own.
      await node(page, 'review__1').click();
      await expect.poll(() => page.getByTestId('step-drawer').locator('h2').textContent()).toBe('review__1');
      expect(await panel.count()).toBe(0);
      await context.close();
    });
  },
);
