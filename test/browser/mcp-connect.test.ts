import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY_PLACEHOLDER } from '../../web/src/lib/mcp-config.js';
import { DIALECTS } from '../helpers/databases.js';
import { callTool } from '../helpers/mcp-client.js';
import {
  HAVE_BROWSER,
  launchBrowser,
  openDashboard,
  screenshot,
  signIn,
  startSwarm,
  type Swarm,
} from './harness.js';

/** Reads the key a "shown once" dialog shows, then closes it. */
async function readShownKey(page: Page): Promise<string> {
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  const value = await dialog.getByLabel('API key').inputValue();
  await dialog.getByRole('button', { name: 'Done' }).click();
  await dialog.waitFor({ state: 'hidden' });
  return value;
}

describe.runIf(HAVE_BROWSER).each(DIALECTS)(
  'connecting an MCP client from the dashboard on %s',
  { timeout: 180_000 },
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

    it('shows the /mcp URL and client configurations that work with a key made for them', async () => {
      const { context, page } = await openDashboard(browser, swarm);
      await signIn(page);
      await page.goto('/#/keys');
      const section = page.getByRole('region', { name: 'Connect an MCP client' });
      const url = await section.getByLabel('MCP URL').inputValue();
      expect(url).toBe(`${swarm.url}/mcp`);

      // A key with exactly the scopes an MCP client needs, picked with one click.
      const form = page.getByRole('form', { name: 'New API key' });
      await form.getByLabel('Name').fill('mcp client');
      await form.getByRole('button', { name: 'Scopes for an MCP client' }).click();
      for (const scope of ['workflows:read', 'runs:write', 'runs:read'])
        expect(await form.getByLabel(scope, { exact: true }).isChecked()).toBe(true);
      expect(await form.getByLabel('secrets:read', { exact: true }).isChecked()).toBe(false);
      await form.getByRole('button', { name: 'Create key' }).click();
      const key = await readShownKey(page);
      // The configuration keeps a placeholder: a key is shown once, never again on the page.
      expect(await page.content()).not.toContain(key);

      const snippet = section.getByLabel('MCP client configuration');
      expect(await snippet.textContent()).toBe(
        `claude mcp add --transport http swarm ${url} --header "Authorization: Bearer ${KEY_PLACEHOLDER}"`,
      );
      await section.getByRole('button', { name: 'Claude Desktop' }).click();
      const desktop = JSON.parse((await snippet.textContent())!) as {
        mcpServers: { swarm: { command: string; args: string[]; env: Record<string, string> } };
      };
      expect(desktop.mcpServers.swarm).toMatchObject({
        command: 'npx',
        env: { SWARM_AUTH: `Bearer ${KEY_PLACEHOLDER}` },
      });
      expect(desktop.mcpServers.swarm.args).toContain(url);

      await section.getByRole('button', { name: 'Other clients (streamable HTTP)' }).click();
      expect(
        await section
          .getByRole('button', { name: 'Other clients (streamable HTTP)' })
          .getAttribute('aria-pressed'),
      ).toBe('true');
      await screenshot(page, dialect === 'sqlite' ? 'keys-mcp' : `keys-mcp-${dialect}`);
      // What the page says, with the new key in place of the placeholder, connects the SDK's client.
      const config = JSON.parse((await snippet.textContent())!.replace(KEY_PLACEHOLDER, key)) as {
        mcpServers: { swarm: { type: string; url: string; headers: Record<string, string> } };
      };
      expect(config.mcpServers.swarm.type).toBe('http');
      const client = new Client({ name: 'browser-test', version: '1.0.0' });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(config.mcpServers.swarm.url), {
          requestInit: { headers: config.mcpServers.swarm.headers },
        }),
      );
      try {
        expect((await client.listTools()).tools.map((t) => t.name)).toContain('hello');
        const result = await callTool(client, 'hello', { name: 'Grace' });
        expect(result.structuredContent).toMatchObject({
          status: 'completed',
          output: { answer: { message: 'Hello, Grace!', long_name: false } },
        });
      } finally {
        await client.close();
      }
      await context.close();
    });
  },
);
