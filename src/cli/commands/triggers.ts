import type { Command } from 'commander';
import { InputError } from '../../errors/index.js';
import type { FiringView, TriggerView } from '../../triggers/index.js';
import { ApiClient } from '../client.js';
import { formatTable, type CliIo } from '../io.js';

type Trigger = TriggerView & { url: string | null };

/** An integer flag in [min, max], or a one-line error naming the flag. */
export function integerFlag(
  raw: string | undefined,
  flag: string,
  min: number,
  max: number,
): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw.trim()) || Number(raw) < min || Number(raw) > max)
    throw new InputError(flag, `an integer from ${min} to ${max}, got "${raw}"`);
  return Number(raw);
}

function route(ref: string, action = ''): string {
  return `/api/v1/triggers/${encodeURIComponent(ref)}${action === '' ? '' : `/${action}`}`;
}

/** What a trigger listens to, in a few words. */
function what(trigger: Trigger, serverUrl: string): string {
  switch (trigger.type) {
    case 'webhook':
      return trigger.url === null ? '-' : `POST ${serverUrl}${trigger.url}`;
    case 'schedule':
      return `${trigger.cron} (${trigger.timezone}, misfire ${trigger.misfire}${
        trigger.misfire === 'catch_up' ? ` ≤${trigger.catchUpLimit}` : ''
      })`;
    case 'event':
      return `${trigger.eventSource}/${trigger.eventType}`;
  }
}

export function registerTriggerCommands(program: Command, io: CliIo): void {
  const triggers = program
    .command('triggers')
    .description('The triggers of your workflows: webhooks, schedules and events');
  const client = () => ApiClient.forCli(io);

  triggers
    .command('list')
    .description('Your triggers, by workflow (never their secrets)')
    .option('--type <type>', 'only webhook, schedule or event triggers')
    .option('--json', 'machine-readable output')
    .action(async (options: { type?: string; json?: boolean }) => {
      if (options.type !== undefined && !['webhook', 'schedule', 'event'].includes(options.type))
        throw new InputError('--type', `webhook, schedule or event, got "${options.type}"`);
      const query = options.type === undefined ? '' : `?type=${encodeURIComponent(options.type)}`;
      const api = client();
      const { items } = await api.request<{ items: Trigger[] }>('GET', `/api/v1/triggers${query}`);
      if (options.json) return io.out(JSON.stringify(items));
      if (items.length === 0) return io.out('no triggers');
      const serverUrl = api.baseUrl;
      io.out(
        formatTable(
          ['WORKFLOW', 'TYPE', 'ENABLED', 'ON', 'NEXT', 'FIRED'],
          items.map((t) => [
            t.workflow,
            t.type,
            t.enabled ? 'yes' : 'no',
            what(t, serverUrl),
            t.nextRunAt ?? '-',
            t.fireCount,
          ]),
        ),
      );
    });

  triggers
    .command('show')
    .description("One trigger, by its workflow's name (or its id)")
    .argument('<workflow>', 'the workflow')
    .option('--json', 'machine-readable output')
    .action(async (ref: string, options: { json?: boolean }) => {
      const api = client();
      const t = await api.request<Trigger>('GET', route(ref));
      if (options.json) return io.out(JSON.stringify(t));
      io.out(`${t.workflow}: ${t.type} trigger ${t.id} — ${t.enabled ? 'enabled' : 'disabled'}`);
      io.out(`  on ${what(t, api.baseUrl)}`);
      if (t.previousSecretValidUntil !== null)
        io.out(`  previous secret accepted until ${t.previousSecretValidUntil}`);
      if (t.nextRunAt !== null) io.out(`  next ${t.nextRunAt}`);
      io.out(
        `  fired ${t.fireCount} time${t.fireCount === 1 ? '' : 's'}${t.lastRunAt ? `, last ${t.lastRunAt}` : ''}`,
      );
    });

  for (const [action, verb] of [
    ['enable', 'enabled'],
    ['disable', 'disabled'],
  ] as const) {
    triggers
      .command(action)
      .description(
        action === 'enable'
          ? 'Enable a trigger (a schedule starts from now)'
          : 'Disable a trigger: it stops firing; the workflow can still be run by hand',
      )
      .argument('<workflow>', 'the workflow')
      .option('--json', 'machine-readable output')
      .action(async (ref: string, options: { json?: boolean }) => {
        const t = await client().request<Trigger>('POST', route(ref, action), {});
        io.out(options.json ? JSON.stringify(t) : `${verb} the ${t.type} trigger of ${t.workflow}`);
      });
  }

  triggers
    .command('rotate-secret')
    .description(
      'Give a webhook trigger a new signing secret, shown once; the old one is accepted a while longer',
    )
    .argument('<workflow>', 'the workflow')
    .option('--grace <seconds>', 'how long the old secret is still accepted (0–2592000, default 86400)')
    .option('--json', 'machine-readable output')
    .action(async (ref: string, options: { grace?: string; json?: boolean }) => {
      const grace = integerFlag(options.grace, '--grace', 0, 30 * 86_400);
      const result = await client().request<{ trigger: Trigger; secret: string }>(
        'POST',
        route(ref, 'rotate-secret'),
        grace === undefined ? {} : { graceSeconds: grace },
      );
      if (options.json) return io.out(JSON.stringify(result));
      io.out(`new signing secret of ${result.trigger.workflow} (store it now; it is not shown again):`);
      io.out(`  ${result.secret}`);
      io.out(
        result.trigger.previousSecretValidUntil === null
          ? 'the previous secret is no longer accepted'
          : `the previous secret is accepted until ${result.trigger.previousSecretValidUntil}`,
      );
    });

  triggers
    .command('next')
    .description('The next times a schedule trigger fires')
    .argument('<workflow>', 'the workflow')
    .option('--count <n>', 'how many (1–100)', '5')
    .option('--json', 'machine-readable output')
    .action(async (ref: string, options: { count: string; json?: boolean }) => {
      const count = integerFlag(options.count, '--count', 1, 100)!;
      const result = await client().request<{ trigger: Trigger; times: string[] }>(
        'GET',
        `${route(ref, 'next')}?count=${count}`,
      );
      if (options.json) return io.out(JSON.stringify(result));
      io.out(`${result.trigger.workflow}: ${result.trigger.cron} (${result.trigger.timezone})`);
      for (const time of result.times) io.out(`  ${time}`);
    });

  triggers
    .command('firings')
    .description("A trigger's firings, newest first: the run each started, or why none")
    .argument('<workflow>', 'the workflow')
    .option('--limit <n>', 'at most this many (1–500)', '50')
    .option('--json', 'machine-readable output')
    .action(async (ref: string, options: { limit: string; json?: boolean }) => {
      const limit = integerFlag(options.limit, '--limit', 1, 500)!;
      const { items } = await client().request<{ items: FiringView[] }>(
        'GET',
        `${route(ref, 'firings')}?limit=${limit}`,
      );
      if (options.json) return io.out(JSON.stringify(items));
      if (items.length === 0) return io.out('no firings');
      io.out(
        formatTable(
          ['WHEN', 'STATUS', 'RUN', 'KEY', 'ERROR'],
          items.map((f) => [
            f.createdAt,
            f.reason === null ? f.status : `${f.status} (${f.reason})`,
            f.runId ?? '-',
            f.key,
            f.error ?? '-',
          ]),
        ),
      );
    });
}
