import type { Command } from 'commander';
import type { HistoryEntry } from '../../history/index.js';
import { ApiClient } from '../client.js';
import { formatTable, type CliIo } from '../io.js';
import { instantFlag } from './audit.js';
import { integerFlag } from './triggers.js';

interface ListOptions {
  workflow?: string;
  status?: string;
  since?: string;
  limit?: string;
  json?: boolean;
}

const MAX_ROWS = 10_000;
const PAGE = 500;

/** `swarm history`: finished runs as archived, readable after their rows are pruned. */
export function registerHistoryCommands(program: Command, io: CliIo): void {
  const history = program
    .command('history')
    .description('Archived runs: kept after the retention policy prunes their rows (docs/retention.md)');
  history
    .command('list')
    .description('Archived runs, newest first')
    .option('--workflow <name>', "only this workflow's runs")
    .option('--status <status>', 'completed, failed, timeout or cancelled')
    .option('--since <when>', 'archived at or after: an ISO-8601 instant, or 30m, 24h, 7d ago')
    .option('--limit <n>', `most rows to show (1–${MAX_ROWS}, default 50)`)
    .option('--json', 'machine-readable output')
    .action(async (options: ListOptions) => {
      const limit = integerFlag(options.limit, '--limit', 1, MAX_ROWS) ?? 50;
      const since = instantFlag(options.since, '--since');
      const api = ApiClient.forCli(io);
      const filters: Record<string, string> = {
        ...(options.workflow === undefined ? {} : { workflow: options.workflow }),
        ...(options.status === undefined ? {} : { status: options.status }),
        ...(since === undefined ? {} : { since }),
      };
      const items: HistoryEntry[] = [];
      let cursor: string | null = null;
      do {
        const query = new URLSearchParams({
          ...filters,
          limit: String(Math.min(PAGE, limit - items.length)),
          ...(cursor === null ? {} : { cursor }),
        });
        const page: { items: HistoryEntry[]; next: string | null } = await api.request(
          'GET',
          `/api/v1/history?${query}`,
        );
        items.push(...page.items);
        cursor = page.next;
      } while (cursor !== null && items.length < limit);
      if (options.json) return io.out(JSON.stringify(items));
      if (items.length === 0) return io.out('no archived runs');
      io.out(
        formatTable(
          ['RUN', 'WORKFLOW', 'STATUS', 'DURATION', 'STEPS', 'MESSAGES', 'COMPLETED'],
          items.map((e) => [
            e.runId,
            `${e.workflow ?? '-'}@${e.version ?? '-'}`,
            e.status,
            e.durationMs === null ? '-' : `${e.durationMs} ms`,
            e.metrics?.steps ?? '-',
            e.metrics?.messages ?? '-',
            e.completedAt ?? '-',
          ]),
        ),
      );
    });
  history
    .command('show')
    .description('One archived run: input, output, metrics and its conversation, as JSON')
    .argument('<run-id>', 'the run id')
    .action(async (runId: string) => {
      const entry = await ApiClient.forCli(io).request<HistoryEntry>(
        'GET',
        `/api/v1/history/${encodeURIComponent(runId)}`,
      );
      io.out(JSON.stringify(entry, null, 2));
    });
}
