import { decodeCursor, encodeCursor, type RunView } from '../engine/index.js';
import { NotFoundError } from '../errors/index.js';
import { fromDbJson, toDbTimestamp, type Caller, type Store } from '../storage/index.js';
import type { ArchivedMessage, ArchivedMetrics } from './archive.js';

/** A finished run as archived; `conversation` and `run` only when one entry is asked for. */
export interface HistoryEntry {
  readonly runId: string;
  readonly workflow: string | null;
  readonly version: string | null;
  readonly status: string;
  readonly input: unknown;
  readonly output: unknown;
  readonly durationMs: number | null;
  readonly startedAt: string | null;
  readonly completedAt: string | null;
  readonly archivedAt: string;
  readonly metrics: ArchivedMetrics | null;
  readonly conversation?: readonly ArchivedMessage[];
  readonly run?: RunView | null;
}

export interface HistoryFilters {
  readonly workflow?: string;
  readonly status?: string;
  /** Runs archived at or after this instant (ISO-8601 with a zone). */
  readonly since?: string;
  readonly cursor?: string;
  readonly limit?: number;
}

const LIST_COLUMNS = [
  'id',
  'run_id',
  'workflow_name',
  'workflow_version',
  'status',
  'input',
  'output',
  'execution_time_ms',
  'started_at',
  'completed_at',
  'created_at',
  'metrics',
] as const;

/** The caller's archived runs, newest first, a page at a time. */
export async function listHistory(
  store: Store,
  caller: Caller,
  filters: HistoryFilters = {},
): Promise<{ items: HistoryEntry[]; next: string | null }> {
  const limit = filters.limit ?? 50;
  let query = store.handle.db
    .selectFrom('execution_history')
    .select([...LIST_COLUMNS])
    .where('owner_id', '=', caller.userId)
    .where('run_id', 'is not', null);
  if (filters.workflow !== undefined) query = query.where('workflow_name', '=', filters.workflow);
  if (filters.status !== undefined)
    query = query.where('status', '=', filters.status as HistoryEntry['status'] as never);
  if (filters.since !== undefined)
    query = query.where('created_at', '>=', toDbTimestamp(filters.since, 'since'));
  if (filters.cursor !== undefined) {
    const at = decodeCursor(filters.cursor);
    query = query.where((eb) =>
      eb.or([
        eb('created_at', '<', at.createdAt),
        eb.and([eb('created_at', '=', at.createdAt), eb('id', '<', at.id)]),
      ]),
    );
  }
  const rows = await query
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit + 1)
    .execute();
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    items: page.map((row) => entryOf(row)),
    next:
      rows.length > limit && last !== undefined
        ? encodeCursor({ createdAt: last.created_at, id: last.id })
        : null,
  };
}

/** One archived run of the caller's, with its conversation and the run as it was shown. */
export async function getHistory(store: Store, caller: Caller, runId: string): Promise<HistoryEntry> {
  const row = await store.handle.db
    .selectFrom('execution_history')
    .select([...LIST_COLUMNS, 'conversation_log', 'run_snapshot'])
    .where('owner_id', '=', caller.userId)
    .where('run_id', '=', runId)
    .executeTakeFirst();
  if (row === undefined) throw new NotFoundError('archived run', runId);
  return {
    ...entryOf(row),
    conversation: fromDbJson<ArchivedMessage[]>(row.conversation_log) ?? [],
    run: fromDbJson<RunView>(row.run_snapshot),
  };
}

/** The run as `GET /api/v1/runs/{id}` showed it when archived, if the caller has it archived. */
export async function archivedRunView(store: Store, caller: Caller, runId: string): Promise<RunView | null> {
  const row = await store.handle.db
    .selectFrom('execution_history')
    .select('run_snapshot')
    .where('owner_id', '=', caller.userId)
    .where('run_id', '=', runId)
    .executeTakeFirst();
  return row === undefined ? null : fromDbJson<RunView>(row.run_snapshot);
}

type ListRow = {
  [K in (typeof LIST_COLUMNS)[number]]: K extends 'execution_time_ms' ? number | null : string | null;
};

function entryOf(row: ListRow): HistoryEntry {
  return {
    runId: row.run_id ?? '',
    workflow: row.workflow_name,
    version: row.workflow_version,
    status: row.status ?? '',
    input: fromDbJson(row.input),
    output: fromDbJson(row.output),
    durationMs: row.execution_time_ms === null ? null : Number(row.execution_time_ms),
    startedAt: row.started_at,
    completedAt: row.completed_at,
    archivedAt: row.created_at ?? '',
    metrics: fromDbJson<ArchivedMetrics>(row.metrics),
  };
}
