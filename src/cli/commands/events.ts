import type { Command } from 'commander';
import { ApiClient } from '../client.js';
import { formatTable, readJsonOption, type CliIo } from '../io.js';
import { integerFlag } from './triggers.js';

interface EventView {
  id: string;
  source: string;
  type: string;
  payload: unknown;
  status: string;
  attempts: number;
  lastError: string | null;
  runId: string | null;
  depth: number;
  createdAt: string;
  dispatchedAt: string | null;
}

export function registerEventCommands(program: Command, io: CliIo): void {
  const events = program
    .command('events')
    .description('Publish events (workflows with a matching event trigger start) and list yours');
  const client = () => ApiClient.forCli(io);

  events
    .command('publish')
    .description('Publish an event; prints its id')
    .argument('<source>', 'who says so, e.g. github (swarm is reserved)')
    .argument('<type>', 'what happened, e.g. push')
    .option('--payload <json|@file>', 'the payload, as JSON or @file.json (default {})')
    .option('--key <key>', 'an idempotency key: publishing it again stores no second event')
    .option('--json', 'machine-readable output')
    .action(
      async (source: string, type: string, options: { payload?: string; key?: string; json?: boolean }) => {
        const body = {
          source,
          type,
          ...(options.payload === undefined
            ? {}
            : { payload: readJsonOption(options.payload, '--payload', io.cwd) }),
          ...(options.key === undefined ? {} : { idempotencyKey: options.key }),
        };
        const { id } = await client().request<{ id: string }>('POST', '/api/v1/events', body);
        io.out(options.json ? JSON.stringify({ id }) : id);
      },
    );

  events
    .command('list')
    .description('Your events, newest first')
    .option('--status <status>', 'pending, dispatched or failed')
    .option('--type <type>', 'only events of this type')
    .option('--source <source>', 'only events from this source')
    .option('--limit <n>', 'at most this many (1–500)', '50')
    .option('--json', 'machine-readable output')
    .action(
      async (options: { status?: string; type?: string; source?: string; limit: string; json?: boolean }) => {
        const limit = integerFlag(options.limit, '--limit', 1, 500)!;
        const params = new URLSearchParams({ limit: String(limit) });
        if (options.status !== undefined) params.set('status', options.status.toLowerCase());
        if (options.type !== undefined) params.set('type', options.type);
        if (options.source !== undefined) params.set('source', options.source);
        const { items } = await client().request<{ items: EventView[] }>('GET', `/api/v1/events?${params}`);
        if (options.json) return io.out(JSON.stringify(items));
        if (items.length === 0) return io.out('no events');
        io.out(
          formatTable(
            ['ID', 'SOURCE', 'TYPE', 'STATUS', 'DEPTH', 'CAUSED BY RUN', 'ATTEMPTS', 'CREATED', 'ERROR'],
            items.map((e) => [
              e.id,
              e.source,
              e.type,
              e.status,
              e.depth,
              e.runId ?? '-',
              e.attempts,
              e.createdAt,
              e.lastError ?? '-',
            ]),
          ),
        );
      },
    );
}
