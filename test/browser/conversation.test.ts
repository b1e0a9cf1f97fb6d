/**
 * An agent loop in the dashboard: the step drawer shows its conversation as a chat (tool calls
 * and results expandable, tokens per model call), and the timeline nests its model and tool
 * calls under the step. The model is the scripted local server; the tools are the examples'
 * Python and Node agents.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../helpers/databases.js';
import { startScriptedModel, type ScriptedModel } from '../runtimes/scripted-model.js';
import {
  HAVE_BROWSER,
  launchBrowser,
  openDashboard,
  screenshot,
  signIn,
  startSwarm,
  type Swarm,
} from './harness.js';

describe.runIf(HAVE_BROWSER).each(DIALECTS)(
  'an agent loop in the dashboard on %s',
  { timeout: 180_000 },
  (dialect) => {
    let swarm: Swarm;
    let browser: Browser;
    let model: ScriptedModel;

    async function call<T = Record<string, unknown>>(
      method: string,
      path: string,
      body?: unknown,
    ): Promise<T> {
      const res = await fetch(`${swarm.url}/api/v1${path}`, {
        method,
        headers: {
          authorization: `Bearer ${swarm.server.bootstrapped!.key}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
      return (text === '' ? null : JSON.parse(text)) as T;
    }

    beforeAll(async () => {
      model = await startScriptedModel();
      [swarm, browser] = await Promise.all([
        startSwarm(dialect, { SWARM_LLM_ALLOWED_URLS: new URL(model.url).origin }),
        launchBrowser(),
      ]);
      await call('PUT', '/llm-providers/scripted', {
        provider: 'custom',
        base_url: model.url,
        model: 'scripted-1',
      });
      await call('POST', '/agents', {
        name: 'counter',
        version: '1.0.0',
        type: 'reasoning',
        capabilities: ['text:count'],
        runtime: {
          type: 'llm',
          provider: 'scripted',
          model: 'scripted-1',
          system_prompt: 'Count with the tools.',
          tools: [{ agent: 'word-count@^1' }, { agent: 'echo@^1', description: 'Says it back' }],
        },
      });
      await call('POST', '/workflows', {
        name: 'count-words',
        version: '1.0.0',
        steps: [{ id: 'think', agent: 'counter@^1', input: { prompt: '{{ trigger.text }}' } }],
      });
    });
    afterAll(async () => {
      await browser?.close();
      await swarm?.close();
      await model?.close();
    });

    it('shows the conversation in the step drawer and the model and tool calls in the timeline', async () => {
      model.script = [
        {
          text: 'Let me count.',
          toolCalls: [
            { name: 'word-count', arguments: { text: 'the quick brown fox' } },
            { name: 'echo', arguments: { note: 'checking' } },
          ],
          usage: { input: 120, output: 30 },
        },
        { text: 'There are 4 words.', usage: { input: 200, output: 8 } },
      ];
      const run = await call<{ id: string }>('POST', '/workflows/count-words/runs', {
        input: { text: 'the quick brown fox' },
      });
      const { context, page } = await openDashboard(browser, swarm);
      await signIn(page);
      await page.goto(`/#/runs/${run.id}`);
      await expect
        .poll(() => page.getByTestId('run-status').textContent(), { timeout: 30_000 })
        .toBe('completed');

      // The timeline: the step's attempts, then its two model calls and two tool calls nested.
      const timeline = page.getByTestId('timeline');
      await expect.poll(() => timeline.locator('[data-kind="model"]').count(), { timeout: 10_000 }).toBe(2);
      expect(await timeline.locator('[data-kind="tool"]').count()).toBe(2);
      expect(await timeline.locator('[data-kind="tool"]').allTextContents()).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/tool word-count/),
          expect.stringMatching(/tool echo/),
        ]),
      );

      // The drawer: the chat, in order, with usage per model call.
      await page.locator('.react-flow__node[data-id="think"] .wg-node').click();
      const chat = page.getByTestId('conversation');
      await chat.waitFor();
      expect(
        await chat.locator('.chat-turn').evaluateAll((els) => els.map((e) => e.getAttribute('data-role'))),
      ).toEqual(['system', 'user', 'assistant', 'tool', 'tool', 'assistant']);
      await expect.poll(() => chat.textContent()).toMatch(/2 model calls · 2 tool calls · 358 tokens/);
      expect(await chat.locator('.chat-assistant').first().textContent()).toMatch(/120 in \+ 30 out tokens/);
      // A tool call opens to its arguments; a tool result to what the tool answered.
      const asked = chat.getByTestId('tool-call').first();
      await asked.locator('summary').click();
      await expect.poll(() => asked.locator('pre').textContent()).toContain('the quick brown fox');
      const result = chat.locator('.chat-tool').first();
      await result.locator('summary').click();
      await expect.poll(() => result.locator('pre').textContent()).toContain('"words":4');
      expect(await chat.locator('.chat-assistant').last().textContent()).toContain('There are 4 words.');
      if (dialect === 'sqlite') await screenshot(page, 'run-conversation');
      await context.close();
    });
  },
);
