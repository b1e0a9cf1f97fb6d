import type { Command } from 'commander';
import { InputError } from '../../errors/index.js';
import type { ApiKey } from '../../storage/index.js';
import { ApiClient } from '../client.js';
import { formatTable, type CliIo } from '../io.js';

/** `--scopes runs:read,tasks:write`: the names, trimmed; the server says which are unknown. */
function parseScopes(raw: string): string[] {
  const scopes = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (scopes.length === 0) throw new InputError('--scopes', 'give at least one scope, e.g. runs:read');
  return scopes;
}

/** `--expires 2027-01-01` or a full ISO-8601 time, as the API's date-time. */
function parseExpiry(raw: string): string {
  const at = Date.parse(raw);
  if (Number.isNaN(at)) throw new InputError('--expires', `"${raw}" is not an ISO-8601 date or time`);
  return new Date(at).toISOString();
}

function parseLimit(raw: string, flag: string): number {
  const n = Number(raw);
  if (!/^[1-9][0-9]*$/.test(raw) || n > 1_000_000_000)
    throw new InputError(flag, `"${raw}" is not a whole number from 1 to 1000000000`);
  return n;
}

function state(key: ApiKey): string {
  if (!key.active) return 'revoked';
  if (key.expiresAt !== null && Date.parse(key.expiresAt) <= Date.now()) return 'expired';
  return 'active';
}

export function registerKeyCommands(program: Command, io: CliIo): void {
  const keys = program.command('keys').description('Your API keys: create (shown once), list, revoke');
  const client = () => ApiClient.forCli(io);

  keys
    .command('create')
    .description(
      'Create an API key, printed once (only its hash is kept). It never holds more than the key ' +
        'making it: scopes, expiry and rate limits default to that key’s own',
    )
    .requiredOption('--name <name>', 'what the key is for')
    .option('--scopes <list>', 'comma-separated scopes, e.g. runs:read,tasks:write (see docs/security.md)')
    .option('--expires <time>', 'ISO-8601 date or time it stops working')
    .option('--description <text>', 'a longer note')
    .option('--per-minute <n>', 'requests a minute it may make (higher than your key’s: admins only)')
    .option('--per-hour <n>', 'requests an hour it may make (higher than your key’s: admins only)')
    .option('--json', 'machine-readable output: {key, apiKey}')
    .action(
      async (options: {
        name: string;
        scopes?: string;
        expires?: string;
        description?: string;
        perMinute?: string;
        perHour?: string;
        json?: boolean;
      }) => {
        const body = {
          name: options.name,
          ...(options.description === undefined ? {} : { description: options.description }),
          ...(options.scopes === undefined ? {} : { scopes: parseScopes(options.scopes) }),
          ...(options.expires === undefined ? {} : { expiresAt: parseExpiry(options.expires) }),
          ...(options.perMinute === undefined
            ? {}
            : { rateLimitPerMinute: parseLimit(options.perMinute, '--per-minute') }),
          ...(options.perHour === undefined
            ? {}
            : { rateLimitPerHour: parseLimit(options.perHour, '--per-hour') }),
        };
        const result = await client().request<{ key: string; apiKey: ApiKey }>('POST', '/api/v1/keys', body);
        if (options.json) return io.out(JSON.stringify(result));
        const { apiKey } = result;
        io.err(
          `created key ${apiKey.id} "${apiKey.name}": scopes ${apiKey.scopes.join(',') || '(none)'}, ` +
            `expires ${apiKey.expiresAt ?? 'never'}, ${apiKey.rateLimitPerMinute}/min and ${apiKey.rateLimitPerHour}/h. ` +
            'Save it now: it is not shown again.',
        );
        // Alone on standard output, so `KEY=$(swarm keys create --name ci)` takes just the key.
        io.out(result.key);
      },
    );

  keys
    .command('list')
    .description('Your API keys (never the keys themselves): prefix, scopes, expiry, last use')
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }) => {
      const { items } = await client().request<{ items: ApiKey[] }>('GET', '/api/v1/keys');
      if (options.json) return io.out(JSON.stringify(items));
      if (items.length === 0) return io.out('no keys');
      io.out(
        formatTable(
          ['ID', 'NAME', 'PREFIX', 'STATE', 'SCOPES', 'LIMITS', 'EXPIRES', 'LAST USED'],
          items.map((k) => [
            k.id,
            k.name,
            k.prefix,
            state(k),
            k.scopes.join(',') || '-',
            `${k.rateLimitPerMinute}/min ${k.rateLimitPerHour}/h`,
            k.expiresAt ?? '-',
            k.lastUsedAt ?? '-',
          ]),
        ),
      );
    });

  keys
    .command('revoke')
    .description('Revoke one of your API keys: it gets 401 from now on')
    .argument('<id>', 'the key’s id (swarm keys list)')
    .option('--json', 'machine-readable output')
    .action(async (id: string, options: { json?: boolean }) => {
      const apiKey = await client().request<ApiKey>('DELETE', `/api/v1/keys/${encodeURIComponent(id)}`);
      if (options.json) return io.out(JSON.stringify(apiKey));
      io.out(`revoked key ${apiKey.id} "${apiKey.name}" (${apiKey.prefix}…)`);
    });
}
