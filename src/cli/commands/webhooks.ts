import type { Command } from 'commander';
import { InputError } from '../../errors/index.js';
import type { DeliveryDetail, DeliveryView, WebhookView } from '../../webhooks/index.js';
import { ApiClient } from '../client.js';
import { formatTable, type CliIo } from '../io.js';

const path = (id: string) => `/api/v1/webhooks/${encodeURIComponent(id)}`;
const deliveryPath = (id: string) => `/api/v1/webhook-deliveries/${encodeURIComponent(id)}`;

function printWebhook(io: CliIo, w: WebhookView): void {
  io.out(
    [
      `id:            ${w.id}`,
      `name:          ${w.name}`,
      `url:           ${w.url}`,
      `events:        ${w.eventTypes.join(', ')}`,
      `active:        ${w.active ? 'yes' : 'no'}`,
      ...(w.description === null ? [] : [`description:   ${w.description}`]),
      `failures:      ${w.failureCount}`,
      `last delivery: ${w.lastDeliveryAt ?? '-'}`,
      `created:       ${w.createdAt}`,
    ].join('\n'),
  );
}

function deliveryRow(d: DeliveryView): Array<string | number> {
  return [
    d.id,
    d.eventType,
    d.status,
    d.attemptCount,
    d.lastStatusCode ?? '-',
    d.status === 'pending' ? (d.nextAttemptAt ?? '-') : (d.deliveredAt ?? '-'),
    d.createdAt,
  ];
}

function parseLimit(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new InputError('--limit', 'must be a positive integer');
  return Number(value);
}

export function registerWebhookCommands(program: Command, io: CliIo): void {
  const webhooks = program
    .command('webhooks')
    .description('Outgoing webhooks: signed deliveries of events to your URLs, retried with back-off');
  const client = () => ApiClient.forCli(io);

  webhooks
    .command('create')
    .description('Subscribe a URL to event types; prints the signing secret, this once')
    .argument('<name>', 'a name for it')
    .requiredOption('--url <url>', 'the http(s) URL deliveries are POSTed to')
    .requiredOption('--events <types>', 'comma-separated event types: run.completed, run.*, or *')
    .option('--description <text>', 'what it is for')
    .option('--json', 'machine-readable output')
    .action(
      async (
        name: string,
        options: { url: string; events: string; description?: string; json?: boolean },
      ) => {
        const eventTypes = options.events
          .split(',')
          .map((t) => t.trim())
          .filter((t) => t !== '');
        if (eventTypes.length === 0) throw new InputError('--events', 'name at least one event type');
        const result = await client().request<{ webhook: WebhookView; secret: string }>(
          'POST',
          '/api/v1/webhooks',
          {
            name,
            url: options.url,
            eventTypes,
            ...(options.description === undefined ? {} : { description: options.description }),
          },
        );
        if (options.json) return io.out(JSON.stringify(result));
        io.out(`created webhook ${result.webhook.name} (${result.webhook.id})`);
        io.out(`signing secret (shown this once; verify deliveries with it): ${result.secret}`);
      },
    );

  webhooks
    .command('list')
    .description('Your webhooks')
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }) => {
      const { items } = await client().request<{ items: WebhookView[] }>('GET', '/api/v1/webhooks');
      if (options.json) return io.out(JSON.stringify(items));
      if (items.length === 0) return io.out('no webhooks');
      io.out(
        formatTable(
          ['ID', 'NAME', 'ACTIVE', 'EVENTS', 'FAILURES', 'URL'],
          items.map((w) => [
            w.id,
            w.name,
            w.active ? 'yes' : 'no',
            w.eventTypes.join(','),
            w.failureCount,
            w.url,
          ]),
        ),
      );
    });

  webhooks
    .command('show')
    .description('One webhook')
    .argument('<id>', 'the webhook')
    .option('--json', 'machine-readable output')
    .action(async (id: string, options: { json?: boolean }) => {
      const webhook = await client().request<WebhookView>('GET', path(id));
      if (options.json) return io.out(JSON.stringify(webhook));
      printWebhook(io, webhook);
    });

  for (const [command, active] of [
    ['enable', true],
    ['disable', false],
  ] as const) {
    webhooks
      .command(command)
      .description(
        active
          ? 'Enable a webhook: deliveries that waited are sent'
          : 'Disable a webhook: no new deliveries; pending ones wait',
      )
      .argument('<id>', 'the webhook')
      .option('--json', 'machine-readable output')
      .action(async (id: string, options: { json?: boolean }) => {
        const webhook = await client().request<WebhookView>('PATCH', path(id), { active });
        if (options.json) return io.out(JSON.stringify(webhook));
        io.out(`${active ? 'enabled' : 'disabled'} webhook ${webhook.name} (${webhook.id})`);
      });
  }

  webhooks
    .command('rm')
    .description('Delete a webhook with its deliveries')
    .argument('<id>', 'the webhook')
    .option('--json', 'machine-readable output')
    .action(async (id: string, options: { json?: boolean }) => {
      await client().request('DELETE', path(id));
      if (options.json) return io.out(JSON.stringify({ deleted: id }));
      io.out(`deleted webhook ${id}`);
    });

  webhooks
    .command('test')
    .description('Queue a webhook.test delivery to a webhook')
    .argument('<id>', 'the webhook')
    .option('--json', 'machine-readable output')
    .action(async (id: string, options: { json?: boolean }) => {
      const delivery = await client().request<DeliveryView>('POST', `${path(id)}/test`);
      if (options.json) return io.out(JSON.stringify(delivery));
      io.out(`queued test delivery ${delivery.id}`);
    });

  webhooks
    .command('rotate-secret')
    .description('Give a webhook a new signing secret; prints it this once')
    .argument('<id>', 'the webhook')
    .option('--json', 'machine-readable output')
    .action(async (id: string, options: { json?: boolean }) => {
      const result = await client().request<{ webhook: WebhookView; secret: string }>(
        'POST',
        `${path(id)}/rotate-secret`,
      );
      if (options.json) return io.out(JSON.stringify(result));
      io.out(`new signing secret of ${result.webhook.name} (shown this once): ${result.secret}`);
    });

  webhooks
    .command('deliveries')
    .description("A webhook's deliveries, newest first")
    .argument('<webhook-id>', 'the webhook')
    .option('--status <status>', 'only pending, delivering, succeeded or failed ones')
    .option('--limit <n>', 'at most this many (default 50)')
    .option('--json', 'machine-readable output')
    .action(async (id: string, options: { status?: string; limit?: string; json?: boolean }) => {
      const query = new URLSearchParams();
      if (options.status !== undefined) query.set('status', options.status);
      const limit = parseLimit(options.limit);
      if (limit !== undefined) query.set('limit', String(limit));
      const suffix = query.size === 0 ? '' : `?${query.toString()}`;
      const { items } = await client().request<{ items: DeliveryView[] }>(
        'GET',
        `${path(id)}/deliveries${suffix}`,
      );
      if (options.json) return io.out(JSON.stringify(items));
      if (items.length === 0) return io.out('no deliveries');
      io.out(
        formatTable(
          ['ID', 'EVENT', 'STATUS', 'ATTEMPTS', 'LAST', 'NEXT/DELIVERED', 'CREATED'],
          items.map(deliveryRow),
        ),
      );
    });

  webhooks
    .command('delivery')
    .description('One delivery with its body and every attempt')
    .argument('<id>', 'the delivery')
    .option('--json', 'machine-readable output')
    .action(async (id: string, options: { json?: boolean }) => {
      const d = await client().request<DeliveryDetail>('GET', deliveryPath(id));
      if (options.json) return io.out(JSON.stringify(d));
      io.out(
        [
          `id:       ${d.id}`,
          `webhook:  ${d.webhookId}`,
          `event:    ${d.eventType} (${d.eventId})`,
          `status:   ${d.status}${d.status === 'pending' && d.nextAttemptAt !== null ? `, next attempt ${d.nextAttemptAt}` : ''}`,
          `attempts: ${d.attemptCount} this round`,
          ...(d.deliveredAt === null ? [] : [`delivered: ${d.deliveredAt}`]),
          ...(d.lastError === null ? [] : [`last error: ${d.lastError}`]),
        ].join('\n'),
      );
      if (d.attempts.length > 0)
        io.out(
          formatTable(
            ['ATTEMPT', 'STATUS', 'LATENCY', 'AT', 'ERROR'],
            d.attempts.map((a) => [
              a.attempt,
              a.statusCode ?? '-',
              `${a.latencyMs} ms`,
              a.createdAt,
              a.error ?? '',
            ]),
          ),
        );
    });

  webhooks
    .command('redeliver')
    .description('Send a delivery again (any status), with a fresh round of attempts')
    .argument('<delivery-id>', 'the delivery')
    .option('--json', 'machine-readable output')
    .action(async (id: string, options: { json?: boolean }) => {
      const delivery = await client().request<DeliveryView>('POST', `${deliveryPath(id)}/redeliver`);
      if (options.json) return io.out(JSON.stringify(delivery));
      io.out(`redelivering ${delivery.id}: pending`);
    });
}
