/**
 * The "MCP servers" view: an admin adds a stdio server (the real test MCP server, started in
 * the sandbox when its tools are asked for), sees its tools, is refused a taken name and a bad
 * header secret name, and removes it; a viewer sees the list and the tools but nothing to change.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../helpers/databases.js';
import { callsFile, FIXTURE } from '../mcp/helpers.js';
import {
  HAVE_BROWSER,
  launchBrowser,
  openDashboard,
  screenshot,
  signIn,
  startSwarm,
  type Swarm,
} from './harness.js';

const VIEWER = { email: 'mcp-viewer@example.com', password: 'mcp viewer password 1' };

describe.runIf(HAVE_BROWSER).each(DIALECTS)('the MCP servers view on %s', { timeout: 180_000 }, (dialect) => {
  let swarm: Swarm;
  let browser: Browser;
  const calls = callsFile();

  beforeAll(async () => {
    [swarm, browser] = await Promise.all([startSwarm(dialect, { SWARM_WORKER: 'false' }), launchBrowser()]);
    const res = await fetch(`${swarm.url}/api/v1/users`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${swarm.server.bootstrapped!.key}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ name: 'Viewer', role: 'viewer', ...VIEWER }),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    // A viewer cannot declare one: its server is written straight to the store.
    const viewer = ((await res.json()) as { user: { id: string } }).user;
    await swarm.server.store.as({ userId: viewer.id, role: 'viewer' }).mcp.setServer({
      name: 'shared',
      transport: 'stdio',
      command: 'node',
      args: [FIXTURE, 'stdio', calls.file],
      url: null,
      headers: {},
      env: [],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await swarm?.close();
    calls.remove();
  });

  it('an admin adds a server, lists its tools, is told what is wrong, and removes it', async () => {
    const { context, page } = await openDashboard(browser, swarm);
    await signIn(page);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'MCP servers' }).click();
    await page.getByText('No MCP servers yet.').waitFor();

    const form = page.getByRole('form', { name: 'Add an MCP server' });
    await form.getByLabel('Name', { exact: true }).fill('local');
    await form.getByLabel('Command').fill('node');
    await form.getByLabel('Arguments').fill([FIXTURE, 'stdio', calls.file].join('\n'));
    await form.getByRole('button', { name: 'Add' }).click();
    await form.getByRole('status').filter({ hasText: 'local added.' }).waitFor();
    const row = page
      .getByRole('table', { name: 'MCP servers' })
      .getByRole('row')
      .filter({ hasText: 'local' });
    await expect.poll(() => row.textContent()).toMatch(/localstdionode .*server\.mjs stdio/);

    await page.getByRole('button', { name: 'Tools of local' }).click();
    const tools = page.getByRole('table', { name: 'Tool list of local' });
    await expect
      .poll(() => tools.textContent(), { timeout: 30_000 })
      .toMatch(/mcp\/local\/addAdds two numbers/);
    expect(await tools.textContent()).toMatch(/mcp\/local\/word_count/);
    await screenshot(page, dialect === 'sqlite' ? 'mcp-servers' : `mcp-servers-${dialect}`);

    // A taken name is refused, not replaced.
    await form.getByLabel('Name', { exact: true }).fill('local');
    await form.getByLabel('Command').fill('node');
    await form.getByRole('button', { name: 'Add' }).click();
    await expect.poll(() => form.getByRole('alert').textContent()).toMatch(/"local" exists already/);

    // An http server whose header names no secret properly: the field is named.
    await form.getByLabel('Name', { exact: true }).fill('remote');
    await form.getByLabel('Transport').selectOption('http');
    await form.getByLabel('URL').fill('https://mcp.example.com/mcp');
    await form.getByLabel('Headers').fill('Authorization=not a name');
    await form.getByRole('button', { name: 'Add' }).click();
    await expect
      .poll(() => form.getByRole('alert').textContent())
      .toMatch(/headers\.Authorization: must be the NAME of a secret/);
    expect(await page.getByRole('table', { name: 'MCP servers' }).getByRole('row').count()).toBe(2);

    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: 'Remove local' }).click();
    await page.getByText('No MCP servers yet.').waitFor();
    await context.close();
  });

  it('a viewer sees servers and their tools, and nothing to add or remove', async () => {
    const { context, page } = await openDashboard(browser, swarm);
    await signIn(page, VIEWER);
    await page.goto('/#/mcp');
    await page.getByRole('button', { name: 'Tools of shared' }).click();
    const tools = page.getByRole('table', { name: 'Tool list of shared' });
    await expect.poll(() => tools.textContent(), { timeout: 30_000 }).toMatch(/mcp\/shared\/add/);
    expect(await page.getByRole('form', { name: 'Add an MCP server' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: /^Remove/ }).count()).toBe(0);
    await context.close();
  });
});
