import { Option, type Command } from 'commander';
import { InputError } from '../../errors/index.js';
import { ApiClient } from '../client.js';
import { formatTable, readJsonOption, type CliIo } from '../io.js';
import { loadOnDispatch } from '../on-dispatch.js';

interface ConnectorView {
  readonly id: string;
  readonly name: string;
  readonly type: string;
  readonly active: boolean;
  readonly config: Record<string, unknown>;
  readonly secret: string | null;
  readonly updatedAt: string;
}

/** Where a connector points, in one cell: its base URL or its host and port. */
function target(c: ConnectorView): string {
  const config = c.config;
  if (c.type === 'http') return String(config.base_url ?? '');
  if (c.type === 'smtp')
    return `${String(config.host ?? '')}:${String(config.port ?? '')} (${String(config.tls ?? '')})`;
  return '';
}

/** `swarm connectors`: the owner's http and smtp connectors (docs/connectors.md). */
export function registerConnectorCommands(program: Command, io: CliIo): void {
  const connectors = program
    .command('connectors')
    .description(
      'Connectors: http (base URL, headers, auth from a secret) and smtp (for builtin/send_email)',
    );
  const client = () => ApiClient.forCli(io);
  const typeOption = new Option('--type <type>', 'its type').makeOptionMandatory();
  const checks = loadOnDispatch(
    connectors,
    () => import('../../connectors/index.js'),
    ({ CONNECTOR_TYPES }) => void (typeOption.description = `one of ${CONNECTOR_TYPES.join(', ')}`),
  );
  const path = (name: string) =>
    `/api/v1/connectors/${encodeURIComponent(checks().checkConnectorName(name, '<name>'))}`;

  connectors
    .command('add')
    .description('Add a connector; secrets are named in the config (set them first with swarm secrets set)')
    .argument('<name>', 'its name, e.g. mail')
    .addOption(typeOption)
    .requiredOption('--config <json|@file>', 'its settings, as JSON or @file.json (docs/connectors.md)')
    .action(async (name: string, options: { type: string; config: string }) => {
      checks().checkConnectorName(name, '<name>');
      const type = checks().checkConnectorType(options.type, '--type');
      const config = readJsonOption(options.config, '--config', io.cwd);
      if (typeof config !== 'object' || config === null || Array.isArray(config))
        throw new InputError('--config', 'must be a JSON object');
      const saved = await client().request<ConnectorView>('POST', '/api/v1/connectors', {
        name,
        type,
        config,
      });
      io.out(
        `added ${saved.type} connector ${saved.name}${saved.secret === null ? '' : ` (secret ${saved.secret})`}`,
      );
    });

  connectors
    .command('list')
    .description('Your connectors')
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }) => {
      const { items } = await client().request<{ items: ConnectorView[] }>('GET', '/api/v1/connectors');
      if (options.json) return io.out(JSON.stringify(items));
      if (items.length === 0) return io.out('no connectors (add one with swarm connectors add)');
      io.out(
        formatTable(
          ['NAME', 'TYPE', 'TARGET', 'SECRET', 'UPDATED'],
          items.map((c) => [c.name, c.type, target(c), c.secret ?? '-', c.updatedAt]),
        ),
      );
    });

  connectors
    .command('rm')
    .description('Remove a connector (the secret it names stays)')
    .argument('<name>', 'the connector')
    .action(async (name: string) => {
      await client().request('DELETE', path(name));
      io.out(`removed connector ${name}`);
    });

  connectors
    .command('test')
    .description('Check a connector works: smtp connects and logs in, http sends HEAD to its base URL')
    .argument('<name>', 'the connector')
    .action(async (name: string) => {
      const result = await client().request<{ ok: boolean; message: string }>('POST', `${path(name)}/test`);
      if (result.ok) return io.out(`ok: ${result.message}`);
      throw new InputError('<name>', `connector ${name} does not work: ${result.message}`);
    });
}
