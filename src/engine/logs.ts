import type { Selectable } from 'kysely';
import { NotFoundError } from '../errors/index.js';
import { fromDbJson, type Caller, type Store, type SwarmDatabase } from '../storage/index.js';

/** Log levels, least severe first. */
export const LOG_LEVELS = ['debug', 'info', 'warning', 'error', 'critical'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** One execution log line of a run, as the API shows it. */
export interface LogView {
  /** A UUIDv7: ids sort by the time they were written, so an id is a cursor. */
  readonly id: string;
  readonly time: string;
  readonly level: string;
  readonly eventType: string;
  readonly stepId: string | null;
  readonly taskId: string | null;
  readonly message: string;
  readonly metadata: Record<string, unknown>;
}

export interface LogQuery {
  /** Only lines after this log id (a cursor: the last id already seen). */
  readonly after?: string;
  /** At most this many lines. @default 100 */
  readonly limit?: number;
  /** Only this step's lines. */
  readonly stepId?: string;
  /** Only lines of this level or a more severe one. */
  readonly level?: LogLevel;
}

type LogRow = Selectable<SwarmDatabase['execution_logs']>;

function viewOfLog(row: LogRow): LogView {
  return {
    id: row.id,
    time: row.created_at,
    level: row.level,
    eventType: row.event_type,
    stepId: row.step_id,
    taskId: row.task_id,
    message: row.message,
    metadata: fromDbJson<Record<string, unknown>>(row.metadata) ?? {},
  };
}

/** The smallest UUIDv7 of a millisecond: every id written at or after `ms` sorts above it. */
function idFloor(ms: number): string {
  const hex = Math.max(0, Math.floor(ms)).toString(16).padStart(12, '0').slice(-12);
  return `${hex.slice(0, 8)}-${hex.slice(8)}-0000-0000-000000000000`;
}

/** The millisecond a UUIDv7 was made in. */
function idTime(id: string): number {
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

/** Reads runs' execution logs (written by the engine in the transactions they describe). */
export class RunLogs {
  constructor(private readonly store: Store) {}

  /** The caller's run's log lines, oldest first; NOT_FOUND for a run that is not the caller's. */
  async list(caller: Caller, runId: string, query: LogQuery = {}): Promise<LogView[]> {
    await this.assertRun(caller, runId);
    return this.read(caller, runId, query);
  }

  /** Fails with NOT_FOUND unless the caller owns the run. */
  async assertRun(caller: Caller, runId: string): Promise<void> {
    const row = await this.store.handle.db
      .selectFrom('workflow_runs')
      .select('id')
      .where('id', '=', runId)
      .where('owner_id', '=', caller.userId)
      .executeTakeFirst();
    if (row === undefined) throw new NotFoundError('run', runId);
  }

  /**
   * Follows a run's log: each `next()` gives the lines not given before. Ids are made by the
   * writing process, so a line can commit after one with a higher id (another process in the
   * same millisecond, a clock a little behind); besides the lines above the newest it gave, the
   * tail looks for such late lines a little below it (ids only, then the few it lacks).
   */
  tail(caller: Caller, runId: string, options: { after?: string; lookbackMs?: number } = {}): LogTail {
    return new LogTail(this, caller, runId, options.after, options.lookbackMs ?? 2_000);
  }

  /** @internal A run's lines (no ownership check beyond the owner column), oldest first. */
  async read(
    caller: Caller,
    runId: string,
    query: LogQuery & { ids?: readonly string[] },
  ): Promise<LogView[]> {
    let select = this.store.handle.db
      .selectFrom('execution_logs')
      .selectAll()
      .where('run_id', '=', runId)
      .where('owner_id', '=', caller.userId);
    if (query.ids !== undefined) select = select.where('id', 'in', query.ids);
    if (query.after !== undefined) select = select.where('id', '>', query.after.toLowerCase());
    if (query.stepId !== undefined) select = select.where('step_id', '=', query.stepId);
    if (query.level !== undefined && query.level !== 'debug') {
      select = select.where('level', 'in', LOG_LEVELS.slice(LOG_LEVELS.indexOf(query.level)));
    }
    const rows = await select
      .orderBy('id')
      .limit(query.limit ?? 100)
      .execute();
    return rows.map(viewOfLog);
  }

  /** @internal The ids of a run's lines strictly between two ids. */
  async idsBetween(caller: Caller, runId: string, above: string, below: string): Promise<string[]> {
    const rows = await this.store.handle.db
      .selectFrom('execution_logs')
      .select('id')
      .where('run_id', '=', runId)
      .where('owner_id', '=', caller.userId)
      .where('id', '>', above)
      .where('id', '<', below)
      .execute();
    return rows.map((r) => r.id);
  }
}

/** See `RunLogs.tail`. */
export class LogTail {
  /** The highest id given so far (or the starting cursor). */
  private cursor: string | undefined;
  /** The reader's starting cursor: nothing at or below it is given. */
  private readonly after: string | undefined;
  /** Ids given that lie in the look-back window, so a late line is given once. */
  private readonly given = new Set<string>();

  constructor(
    private readonly logs: RunLogs,
    private readonly caller: Caller,
    private readonly runId: string,
    after: string | undefined,
    private readonly lookbackMs: number,
  ) {
    this.after = after?.toLowerCase();
    this.cursor = this.after;
  }

  /** The newest id given (or the starting cursor): where a reconnecting reader resumes. */
  get lastId(): string | undefined {
    return this.cursor;
  }

  /** The lines not given yet: late ones first, then the new ones oldest first (all, in pages of `pageSize`). */
  async next(pageSize = 500): Promise<LogView[]> {
    const fresh: LogView[] = [];
    if (this.cursor !== undefined) {
      // Never at or below the reader's own cursor: it has seen what lies there.
      let floor = idFloor(idTime(this.cursor) - this.lookbackMs);
      if (this.after !== undefined && this.after > floor) floor = this.after;
      for (const id of this.given) if (id <= floor) this.given.delete(id);
      const late = (await this.logs.idsBetween(this.caller, this.runId, floor, this.cursor)).filter(
        (id) => !this.given.has(id),
      );
      if (late.length > 0) {
        for (const line of await this.logs.read(this.caller, this.runId, { ids: late, limit: late.length })) {
          this.given.add(line.id);
          fresh.push(line);
        }
      }
    }
    for (;;) {
      const page = await this.logs.read(this.caller, this.runId, {
        ...(this.cursor === undefined ? {} : { after: this.cursor }),
        limit: pageSize,
      });
      for (const line of page) {
        this.given.add(line.id);
        fresh.push(line);
        this.cursor = line.id;
      }
      if (page.length < pageSize) return fresh;
    }
  }
}
