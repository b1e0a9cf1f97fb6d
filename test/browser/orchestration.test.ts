/**
 * A hierarchical step in the dashboard: its one node grows sub-nodes as the coordinator's plan
 * unfolds (the plan, then its subtasks, then the next plan), each coloured by its task's status,
 * and the step drawer shows what the agents said to each other. The agents are the crash test's
 * deterministic crew (test/runtimes/fixtures/crew): subtasks that take a few seconds, so the
 * page sees the graph at more than one size.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from '../../src/registry/index.js';
import { DIALECTS } from '../helpers/databases.js';
import { FIXTURES } from '../runtimes/process-helpers.js';
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

describe.runIf(HAVE_BROWSER).each(DIALECTS)(
  'a hierarchical run in the dashboard on %s',
  { timeout: 180_000 },
  (dialect) => {
    let swarm: Swarm;
    let browser: Browser;
    let dir: string;

    async function call<T = Record<string, unknown>>(
      method: string,
      route: string,
      body?: unknown,
    ): Promise<T> {
      const res = await fetch(`${swarm.url}/api/v1${route}`, {
        method,
        headers: {
          authorization: `Bearer ${swarm.server.bootstrapped!.key}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${text}`);
      return (text === '' ? null : JSON.parse(text)) as T;
    }

    beforeAll(async () => {
      [swarm, browser] = await Promise.all([startSwarm(dialect), launchBrowser()]);
      // The crew's code is a test fixture: registered as the admin, straight through the registry.
      const admin = await swarm.server.store.handle.db
        .selectFrom('users')
        .select(['id', 'role'])
        .where('email', '=', ADMIN.email)
        .executeTakeFirstOrThrow();
      const { agents } = new Registry(swarm.server.store).as({
        userId: admin.id,
        role: admin.role as 'admin',
      });
      for (const [name, entry] of [
        ['crew-lead', 'plan.js'],
        ['crew-hand', 'work.js'],
      ] as const)
        await agents.register(
          {
            name,
            version: '1.0.0',
            type: 'execution',
            capabilities: [`test:${name}`],
            runtime: { type: 'node', entry },
          },
          { path: path.join(FIXTURES, 'crew') },
        );
      // Where the crew's workers note each invocation: outside SWARM_HOME, writable by the sandbox.
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-crew-'));
      fs.chmodSync(dir, 0o777);
      await call('POST', '/workflows', {
        name: 'crew',
        version: '1.0.0',
        steps: [
          {
            id: 'crew',
            pattern: 'hierarchical',
            coordinator: 'crew-lead@^1',
            pool: ['crew-hand@^1'],
            input: { dir: '{{ trigger.dir }}', jobs: '{{ trigger.jobs }}' },
          },
        ],
      });
    });
    afterAll(async () => {
      await browser?.close();
      await swarm?.close();
      if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('grows the step’s sub-nodes with the plan and shows the agents’ conversation', async () => {
      const { context, page } = await openDashboard(browser, swarm);
      await signIn(page);
      const run = await call<{ id: string }>('POST', '/workflows/crew/runs', {
        input: {
          dir,
          jobs: [
            { tag: 'a', ms: 2500 },
            { tag: 'b', ms: 3000 },
            { tag: 'c', ms: 3500 },
          ],
        },
      });
      await page.goto(`/#/runs/${run.id}`);
      const subs = page.getByTestId('wg-sub');

      // Sampled while the run goes on: the graph is seen at more than one size on the way.
      const seen = new Set<number>();
      let running = false;
      // Nodes are rebuilt on every poll; none may be drawn hidden waiting to be measured.
      let hidden = 0;
      await expect
        .poll(
          async () => {
            seen.add(await subs.count());
            running ||= (await page.locator('[data-testid="wg-sub"][data-status="running"]').count()) > 0;
            hidden += await page
              .locator('.react-flow__node')
              .evaluateAll(
                (els) =>
                  els.filter((e) => (e.getAttribute('style') ?? '').includes('visibility: hidden')).length,
              );
            return page.getByTestId('run-status').textContent();
          },
          { timeout: 60_000, interval: 200 },
        )
        .toBe('completed');
      // The end: two plans and three subtasks, every one completed.
      await expect.poll(() => subs.count(), { timeout: 10_000 }).toBe(5);
      seen.add(5);
      const sizes = [...seen].filter((n) => n > 0).sort((a, b) => a - b);
      expect(sizes.length, `sizes seen: ${sizes.join(', ')}`).toBeGreaterThan(1);
      expect(sizes.at(-1)).toBe(5);
      expect(running).toBe(true);
      expect(hidden).toBe(0);
      // The sub-nodes come from the conversation, read once more after the run's status says it
      // ended: they catch up within that read.
      await expect
        .poll(() => subs.evaluateAll((els) => els.map((e) => e.getAttribute('data-status'))), {
          timeout: 10_000,
        })
        .toEqual(Array(5).fill('completed'));
      expect(await subs.allTextContents()).toEqual([
        'crew-lead · plan 1',
        'crew-hand · round 1 · subtask 1',
        'crew-hand · round 1 · subtask 2',
        'crew-hand · round 1 · subtask 3',
        'crew-lead · plan 2',
      ]);

      // The drawer: the plans and the results, as messages between the agents.
      await page.locator('.react-flow__node[data-id="crew"] .wg-node').click();
      const chat = page.getByTestId('conversation');
      await chat.waitFor();
      const who = await chat.locator('.chat-who').allTextContents();
      expect(who).toEqual([
        'crew-lead@1.0.0',
        'crew-hand@1.0.0 → crew-lead',
        'crew-hand@1.0.0 → crew-lead',
        'crew-hand@1.0.0 → crew-lead',
        'crew-lead@1.0.0',
      ]);
      // What they said: the first plan's subtasks, a subtask's result.
      const said = await chat.locator('.chat-content').allTextContents();
      expect(said[0]).toContain('"subtasks"');
      expect(said[1]).toMatch(/"tag": "[abc]"/);
      if (dialect === 'sqlite') await screenshot(page, 'run-hierarchical');
      await context.close();
    });
  },
);
