import type { Command } from 'commander';
import { InputError } from '../../errors/index.js';
import type { AuditRecord } from '../../storage/index.js';
import { ApiClient } from '../client.js';
import { formatTable, type CliIo } from '../io.js';
import { integerFlag } from './triggers.js';

interface ListOptions {
  actor?: string;
  action?: string;
  resource?: string;
  since?: string;
  until?: string;
  limit?: string;
  json?: boolean;
}

/** The most rows one `audit list` prints, over as many pages as that takes. */
const MAX_ROWS = 100_000;
const PAGE = 500;
const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** An ISO-8601 instant, or a duration back from now (`30m`, `24h`, `7d`). */
export function instantFlag(raw: string | undefined, flag: string, now = Date.now()): string | undefined {
  if (raw === undefined) return undefined;
  const ago = /^(\d{1,6})([mhd])$/.exec(raw.trim());
  if (ago !== null) return new Date(now - Number(ago[1]) * UNIT_MS[ago[2]!]!).toISOString();
  if (Number.isNaN(Date.parse(raw)))
    throw new InputError(flag, `an ISO-8601 instant or a duration like 30m, 24h, 7d, got "${raw}"`);
  return raw;
}

/** `TYPE` or `TYPE:ID` (the id may hold colons itself). */
function resourceQuery(raw: string): Record<string, string> {
  const at = raw.indexOf(':');
  const type = at < 0 ? raw : raw.slice(0, at);
  const id = at < 0 ? '' : raw.slice(at + 1);
  if (type === '') throw new InputError('--resource', `TYPE or TYPE:ID, got "${raw}"`);
  return id === '' ? { resourceType: type } : { resourceType: type, resourceId: id };
}

function who(record: AuditRecord): string {
  return record.actorEmail ?? record.actorId ?? (record.metadata.by === 'swarm' ? 'swarm' : '-');
}

export function registerAuditCommands(program: Command, io: CliIo): void {
  const audit = program.command('audit').description('The audit log: who changed what, when, from where');
  audit
    .command('list')
    .description('Audit rows, newest first (admins: everyone’s; others: their own)')
    .option('--actor <who>', 'only what this user did: a user id, an email, or "me"')
    .option('--action <action>', 'an action (run.cancel), a family (run), or a prefix ending in *')
    .option('--resource <type[:id]>', 'only rows about this resource type, or this one resource')
    .option('--since <when>', 'at or after: an ISO-8601 instant, or 30m, 24h, 7d ago')
    .option('--until <when>', 'at or before: an ISO-8601 instant, or 30m, 24h, 7d ago')
    .option('--limit <n>', `most rows to show (1–${MAX_ROWS}, default 50)`)
    .option('--json', 'machine-readable output')
    .action(async (options: ListOptions) => {
      const limit = integerFlag(options.limit, '--limit', 1, MAX_ROWS) ?? 50;
      const since = instantFlag(options.since, '--since');
      const until = instantFlag(options.until, '--until');
      const api = ApiClient.forCli(io);
      const actor =
        options.actor === 'me' ? (await api.request<{ id: string }>('GET', '/api/v1/me')).id : options.actor;
      const filters: Record<string, string> = {
        ...(actor === undefined ? {} : { actor }),
        ...(options.action === undefined ? {} : { action: options.action }),
        ...(options.resource === undefined ? {} : resourceQuery(options.resource)),
        ...(since === undefined ? {} : { since }),
        ...(until === undefined ? {} : { until }),
      };
      const items: AuditRecord[] = [];
      let cursor: string | null = null;
      do {
        const query = new URLSearchParams({
          ...filters,
          limit: String(Math.min(PAGE, limit - items.length)),
          ...(cursor === null ? {} : { cursor }),
        });
        const page: { items: AuditRecord[]; nextCursor: string | null } = await api.request(
          'GET',
          `/api/v1/audit-logs?${query}`,
        );
        items.push(...page.items);
        cursor = page.nextCursor;
      } while (cursor !== null && items.length < limit);
      if (options.json) return io.out(JSON.stringify(items));
      if (items.length === 0) return io.out('no audit rows');
      io.out(
        formatTable(
          ['TIME', 'ACTOR', 'ACTION', 'RESOURCE', 'FROM', 'OK'],
          items.map((r) => [
            r.createdAt,
            who(r),
            r.action,
            r.resourceType === null ? '-' : `${r.resourceType}:${r.resourceId ?? ''}`,
            r.ipAddress ?? '-',
            r.success ? 'yes' : 'no',
          ]),
        ),
      );
    });
}
