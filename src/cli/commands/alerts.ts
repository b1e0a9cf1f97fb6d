import { Option, type Command } from 'commander';
import { InputError } from '../../errors/index.js';
import { ApiClient } from '../client.js';
import { formatTable, type CliIo } from '../io.js';
import { loadOnDispatch } from '../on-dispatch.js';

interface AlertView {
  readonly id: string;
  readonly type: string;
  readonly severity: string;
  readonly cause: string;
  readonly title: string;
  readonly count: number;
  readonly resolved: boolean;
  readonly resolvedBy: string | null;
  readonly lastSeenAt: string;
}

function alertType(value: string, types: readonly string[]): string {
  if (!types.includes(value))
    throw new InputError('--type', `must be one of ${types.join(', ')}, got "${value}"`);
  return value;
}

/** `swarm alerts`: what Swarm raised (docs/alerts.md), and resolving one by hand. */
export function registerAlertCommands(program: Command, io: CliIo): void {
  const alerts = program
    .command('alerts')
    .description(
      'Alerts Swarm raised: failing, timing-out or slow agents, crash loops, budgets, completions',
    );
  const client = () => ApiClient.forCli(io);
  const typeOption = new Option('--type <type>', 'only this type');
  const storage = loadOnDispatch(
    alerts,
    () => import('../../storage/index.js'),
    ({ ALERT_TYPES }) => void (typeOption.description = `only this type: ${ALERT_TYPES.join(', ')}`),
  );

  alerts
    .command('list')
    .description('Your open alerts, newest first (--all: resolved ones too)')
    .option('--all', 'resolved alerts too')
    .addOption(typeOption)
    .option('--limit <n>', 'at most this many (1–999)', '50')
    .option('--json', 'machine-readable output')
    .action(async (options: { all?: boolean; type?: string; limit: string; json?: boolean }) => {
      if (!/^[1-9][0-9]{0,2}$/.test(options.limit))
        throw new InputError('--limit', `must be a whole number from 1 to 999, got "${options.limit}"`);
      const query = new URLSearchParams({ limit: options.limit });
      if (!options.all) query.set('resolved', 'false');
      if (options.type !== undefined) query.set('type', alertType(options.type, storage().ALERT_TYPES));
      const { items } = await client().request<{ items: AlertView[] }>('GET', `/api/v1/alerts?${query}`);
      if (options.json) return io.out(JSON.stringify(items));
      if (items.length === 0) return io.out(options.all ? 'no alerts' : 'no open alerts');
      io.out(
        formatTable(
          ['ID', 'SEVERITY', 'TYPE', 'COUNT', 'STATE', 'LAST SEEN', 'TITLE'],
          items.map((a) => [
            a.id,
            a.severity,
            a.type,
            a.count,
            a.resolved ? `resolved (${a.resolvedBy ?? '?'})` : 'open',
            a.lastSeenAt,
            a.title,
          ]),
        ),
      );
    });

  alerts
    .command('resolve')
    .description('Resolve an alert by hand (a new one opens if its cause occurs again)')
    .argument('<ID>', 'the alert id (swarm alerts list)')
    .action(async (id: string) => {
      const alert = await client().request<AlertView>('PATCH', `/api/v1/alerts/${encodeURIComponent(id)}`, {
        resolved: true,
      });
      io.out(`resolved ${alert.id}: ${alert.title}`);
    });
}
