import { sql, type SelectQueryBuilder } from 'kysely';
import { InputError } from '../errors/index.js';
import { toDbTimestamp, type SwarmDatabase } from '../storage/index.js';

/** The trigger types a run can have (`workflow_runs.trigger_type`; null is an old manual run). */
export const RUN_TRIGGER_TYPES = ['manual', 'webhook', 'schedule', 'event'] as const;

/** What the runs list may be narrowed by; every field optional. */
export interface RunFilters {
  readonly workflow?: string;
  readonly status?: string;
  readonly triggerType?: string;
  /** Runs created at or after this instant (ISO-8601 with a zone). */
  readonly since?: string;
  /** Runs created before this instant. */
  readonly until?: string;
  /** Text found (case-insensitively) in the run id, the workflow name or the error. */
  readonly q?: string;
  /** The `next` of the previous page. */
  readonly cursor?: string;
  readonly limit?: number;
}

/** Where a page ended: newest first is (created_at, id) descending, so the next page starts below it. */
interface Position {
  readonly createdAt: string;
  readonly id: string;
}

export function encodeCursor(position: Position): string {
  return Buffer.from(JSON.stringify([position.createdAt, position.id])).toString('base64url');
}

export function decodeCursor(cursor: string): Position {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(value) &&
      value.length === 2 &&
      typeof value[0] === 'string' &&
      typeof value[1] === 'string'
    )
      return { createdAt: toDbTimestamp(value[0], 'cursor'), id: value[1] };
  } catch {
    // Falls through to the one error below: a cursor is opaque, its parts are not the caller's.
  }
  throw new InputError('cursor', 'not a cursor this API returned');
}

/** `%`, `_` and the escape character itself are literal in the searched text. */
function likePattern(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

type RunQuery<O> = SelectQueryBuilder<SwarmDatabase, 'workflow_runs', O>;

/** Narrows a `workflow_runs` query by the filters (the owner is the caller's business). */
export function applyRunFilters<O>(query: RunQuery<O>, filters: RunFilters): RunQuery<O> {
  let q = query;
  if (filters.workflow !== undefined) q = q.where('workflow_name', '=', filters.workflow);
  if (filters.status !== undefined) q = q.where('status', '=', filters.status);
  if (filters.triggerType !== undefined) {
    const type = filters.triggerType;
    q =
      type === 'manual'
        ? q.where((eb) => eb.or([eb('trigger_type', '=', 'manual'), eb('trigger_type', 'is', null)]))
        : q.where('trigger_type', '=', type);
  }
  if (filters.since !== undefined) q = q.where('created_at', '>=', toDbTimestamp(filters.since, 'since'));
  if (filters.until !== undefined) q = q.where('created_at', '<', toDbTimestamp(filters.until, 'until'));
  if (filters.q !== undefined && filters.q !== '') {
    const pattern = likePattern(filters.q);
    // lower() on both sides: SQLite's LIKE ignores ASCII case, PostgreSQL's does not.
    const like = (column: 'id' | 'workflow_name' | 'error') =>
      sql<boolean>`lower(${sql.ref(column)}) like ${pattern} escape '\\'`;
    q = q.where((eb) => eb.or([like('id'), like('workflow_name'), like('error')]));
  }
  if (filters.cursor !== undefined) {
    const at = decodeCursor(filters.cursor);
    q = q.where((eb) =>
      eb.or([
        eb('created_at', '<', at.createdAt),
        eb.and([eb('created_at', '=', at.createdAt), eb('id', '<', at.id)]),
      ]),
    );
  }
  return q;
}
