import type { Command } from 'commander';
import { InputError } from '../../errors/index.js';
import { ApiClient } from '../client.js';
import { formatTable, type CliIo } from '../io.js';

/** The name checked here, before anything is sent; the rule loads with the commands using it. */
async function checkName(name: string): Promise<void> {
  const { checkMcpServerName } = await import('../../mcp/server-input.js');
  checkMcpServerName(name, 'NAME');
}

interface ServerView {
  name: string;
  transport: 'stdio' | 'http';
  command: string | null;
  args: string[];
  url: string | null;
  headers: Record<string, string>;
  env: string[];
}

interface ToolView {
  name: string;
  description?: string;
  inputSchema: Record<string, unknown>;
}

interface AddOptions {
  command?: string;
  arg: string[];
  url?: string;
  header: string[];
  env: string[];
  replace?: boolean;
  json?: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** `--header NAME=SECRET`s as the API wants them: header name → secret name. */
function headersOf(pairs: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0 || at === pair.length - 1)
      throw new InputError(
        '--header',
        `"${pair}" must be NAME=SECRET: the header's name, and the name of the secret holding its value`,
      );
    headers[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return headers;
}

/** The PUT body of `add`, or an InputError naming the flag. */
function bodyOf(options: AddOptions): Record<string, unknown> {
  const { command, url } = options;
  if (command !== undefined && url !== undefined)
    throw new InputError(
      '--url',
      'give either --command (a stdio server) or --url (an http server), not both',
    );
  if (command === undefined && url === undefined)
    throw new InputError(
      '--command',
      'give --command CMD (a stdio server, with --arg) or --url URL (an http server)',
    );
  if (command !== undefined) {
    if (options.header.length > 0)
      throw new InputError(
        '--header',
        'only an http server (--url) takes headers; a stdio server gets --env',
      );
    return { command, args: options.arg, env: options.env };
  }
  if (options.arg.length > 0)
    throw new InputError('--arg', 'only a stdio server (--command) takes arguments');
  if (options.env.length > 0)
    throw new InputError(
      '--env',
      'only a stdio server (--command) takes --env; an http server gets --header',
    );
  return { url, headers: headersOf(options.header) };
}

function describeServer(server: ServerView): string {
  if (server.transport === 'http') return server.url ?? '';
  return [server.command ?? '', ...server.args]
    .map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a))
    .join(' ');
}

/** `swarm mcp servers add|list|remove|tools`. */
export function registerMcpCommands(program: Command, io: CliIo): void {
  const mcp = program
    .command('mcp')
    .description('MCP (Model Context Protocol) servers: tools for workflows and LLM agents');
  const servers = mcp
    .command('servers')
    .description('Your MCP servers: stdio programs run in the sandbox, or streamable-HTTP URLs');
  const client = () => ApiClient.forCli(io);

  servers
    .command('add')
    .description(
      'Declare an MCP server (secrets it names must be set first with `swarm secrets set`); its tools run as agents mcp/NAME/<tool>',
    )
    .argument('<NAME>', 'the server (lower-case letters, digits, . _ -)')
    .option(
      '--command <CMD>',
      'stdio: the program, a name on the sandbox PATH or an absolute path (needs agents:publish)',
    )
    .option('--arg <A>', 'stdio: one argument (repeat, in order; no shell)', collect, [])
    .option('--url <URL>', 'http: the streamable-HTTP endpoint')
    .option('--header <NAME=SECRET>', 'http: a header whose value is the secret SECRET (repeat)', collect, [])
    .option('--env <SECRET>', 'stdio: a secret passed as the variable of the same name (repeat)', collect, [])
    .option('--replace', 'replace a server of that name instead of refusing')
    .option('--json', 'machine-readable output')
    .action(async (name: string, options: AddOptions) => {
      await checkName(name);
      const body = bodyOf(options);
      const result = await client().request<{ created: boolean; server: ServerView }>(
        'PUT',
        `/api/v1/mcp/servers/${encodeURIComponent(name)}`,
        body,
        options.replace ? {} : { 'if-none-match': '*' },
      );
      if (options.json) return io.out(JSON.stringify(result));
      const s = result.server;
      io.out(
        `${result.created ? 'added' : 'replaced'} MCP server ${s.name} (${s.transport}: ${describeServer(s)})`,
      );
    });

  servers
    .command('list')
    .description('Your MCP servers (secret values are never shown: only the names of the secrets)')
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }) => {
      const { items } = await client().request<{ items: ServerView[] }>('GET', '/api/v1/mcp/servers');
      if (options.json) return io.out(JSON.stringify(items));
      if (items.length === 0) return io.out('no MCP servers');
      io.out(
        formatTable(
          ['NAME', 'TRANSPORT', 'COMMAND / URL', 'SECRETS'],
          items.map((s) => [
            s.name,
            s.transport,
            describeServer(s),
            [...Object.entries(s.headers).map(([h, secret]) => `${h}=${secret}`), ...s.env].join(', ') || '-',
          ]),
        ),
      );
    });

  servers
    .command('remove')
    .alias('rm')
    .description('Remove an MCP server (the secrets it names stay)')
    .argument('<NAME>', 'the server')
    .action(async (name: string) => {
      await checkName(name);
      await client().request('DELETE', `/api/v1/mcp/servers/${encodeURIComponent(name)}`);
      io.out(`removed MCP server ${name}`);
    });

  servers
    .command('tools')
    .description("List a server's tools, asking it now (starts a stdio server if needed)")
    .argument('<NAME>', 'the server')
    .option('--json', 'machine-readable output')
    .action(async (name: string, options: { json?: boolean }) => {
      await checkName(name);
      const { tools } = await client().request<{ tools: ToolView[] }>(
        'GET',
        `/api/v1/mcp/servers/${encodeURIComponent(name)}/tools`,
      );
      if (options.json) return io.out(JSON.stringify(tools));
      if (tools.length === 0) return io.out(`MCP server ${name} offers no tools`);
      io.out(
        formatTable(
          ['AGENT', 'DESCRIPTION'],
          tools.map((t) => [`mcp/${name}/${t.name}`, (t.description ?? '').split('\n')[0] ?? '']),
        ),
      );
    });

  // run.ts passes error handling down two levels; these commands sit three deep.
  for (const sub of servers.commands) sub.exitOverride().configureOutput(program.configureOutput());
}
