import { sql, type Kysely, type RawBuilder } from 'kysely';
import {
  toDbTimestamp,
  type DatabaseHandle,
  type DialectAdapter,
  type SwarmDatabase,
} from '../storage/index.js';
import { instruments, secondsSince } from '../metrics/index.js';
import { chunksFor } from './batch.js';
import { whereClaimerMayTake } from './claimer-filter.js';
import { byClaimOrder, CLAIM_COLUMNS, startedColumns, toClaimedTask, type ClaimRow } from './rows.js';
import type { ClaimedTask } from './types.js';
import {
  claimKeyedTasks,
  noteNoKeyedWork,
  noteNoUnkeyedWork,
  ownersInTurn,
  shouldLookForKeyedWork,
  unkeyedRecentlyEmpty,
} from './flow/index.js';

export interface ClaimOptions {
  /** Who claims: recorded as the lock holder and on the worker assignment. */
  readonly workerId: string;
  /** Most tasks to take in this claim. */
  readonly limit: number;
  /** How long the lease lasts unless renewed. */
  readonly leaseMs: number;
  /** @default new Date() */
  readonly now?: Date;
  /** Only tasks of this owner (a pull agent sees its owner's tasks and no one else's). */
  readonly ownerId?: string;
  /**
   * Only tasks one agent may run: those naming `agentName`, or naming no agent and requiring
   * one of `capabilities`. Absent: every ready task (the in-process worker).
   */
  readonly only?: ClaimFilter;
}

export interface ClaimFilter {
  readonly agentName?: string;
  readonly capabilities?: readonly string[];
}

/**
 * Claims up to `limit` ready tasks — PENDING, `run_at` come — highest priority first, then
 * oldest. One statement (on SQLite in a write transaction, with the expiry of stale tasks):
 *
 *   WITH next AS MATERIALIZED (
 *     SELECT id FROM tasks WHERE status = 'PENDING' AND run_at <= :now
 *     ORDER BY priority DESC, run_at, id LIMIT :limit
 *     [FOR UPDATE SKIP LOCKED]                 -- where the dialect can (PostgreSQL)
 *   )
 *   UPDATE tasks SET status = 'RUNNING', lease_epoch = lease_epoch + 1, locked_by = …, …
 *   WHERE id IN (SELECT id FROM next)         -- PostgreSQL: id = ANY(ARRAY(…)), see pickedIds
 *     AND status = 'PENDING' RETURNING …;
 *   INSERT INTO worker_assignments VALUES (…), (…);
 *
 * The select walks the partial index idx_tasks_ready in order. SKIP LOCKED lets concurrent
 * claimers pass over each other's rows instead of queueing behind them; MATERIALIZED makes the
 * LIMITed, locking select run exactly once (a subquery re-run by a nested loop could lock and
 * update more rows than asked for). SQLite has one writer: BEGIN IMMEDIATE serialises claimers.
 * On PostgreSQL it commits on its own (claimInOneStatement).
 *
 * `ownerId` and `only` narrow the select (a pull agent claiming over the API); without them the
 * statement is exactly the one above.
 *
 * Expiry is lazy: a task past `expires_at` is taken off the queue when it reaches the head of
 * it, turned EXPIRED under the claim's lease, and not returned — so a claim may return fewer
 * tasks than are ready, and a claimer simply claims again. No sweep scans for expired tasks.
 */
export async function claimTasks(handle: DatabaseHandle, options: ClaimOptions): Promise<ClaimedTask[]> {
  const { db, dialect } = handle;
  const limit = Math.floor(options.limit);
  if (!(limit > 0)) return [];
  // A filter naming nothing matches nothing, not everything.
  if (
    options.only !== undefined &&
    options.only.agentName === undefined &&
    !options.only.capabilities?.length
  )
    return [];
  const nowDate = options.now ?? new Date();
  const now = toDbTimestamp(nowDate);
  const lockedUntil = toDbTimestamp(new Date(nowDate.getTime() + options.leaseMs));
  const claimStarted = performance.now();

  const at = { limit, now, nowDate, lockedUntil };
  // Keyed tasks (flow control) are claimed apart, under their keys' locks; the claim of
  // unkeyed tasks below is the same single statement whether or not keyed work exists. Which
  // goes first alternates, so neither kind can starve the other of a busy worker's room, except
  // that keyed goes first while the unkeyed queue was just seen empty (unkeyedRecentlyEmpty).
  const lookForKeyed = shouldLookForKeyedWork();
  keyedFirst = !keyedFirst || unkeyedRecentlyEmpty();
  let rows: ClaimRow[] = [];
  if (lookForKeyed && keyedFirst) rows = await claimKeyed(handle, options, at);
  const unkeyedClaim = (by: ClaimOptions, most: number): Promise<ClaimRow[]> => {
    const unkeyed = { ...at, limit: most };
    return dialect.capabilities.writingCtes
      ? claimInOneStatement(db, dialect, by, unkeyed)
      : dialect.writeTransaction(db, async (trx) => {
          const claimed = await claimStatement(trx, dialect, by, unkeyed).execute();
          return finishClaim(trx, dialect, by, claimed, unkeyed);
        });
  };
  if (rows.length < limit) {
    // Several owners with ready work: a share from each in turn (in proportion to its weight),
    // then the rest by priority.
    const turns = options.ownerId === undefined ? await ownersInTurn(db, limit - rows.length) : [];
    for (const { ownerId, share } of turns) {
      if (rows.length >= limit) break;
      rows = rows.concat(await unkeyedClaim({ ...options, ownerId }, Math.min(share, limit - rows.length)));
    }
    if (rows.length < limit) {
      const unkeyed = await unkeyedClaim(options, limit - rows.length);
      // Only an unfiltered look that found nothing says the unkeyed queue is empty.
      if (
        unkeyed.length === 0 &&
        turns.length === 0 &&
        options.ownerId === undefined &&
        options.only === undefined
      )
        noteNoUnkeyedWork();
      rows = rows.concat(unkeyed);
    }
  }
  if (lookForKeyed && !keyedFirst && rows.length < limit)
    rows = rows.concat(await claimKeyed(handle, options, { ...at, limit: limit - rows.length }));
  // Metrics: in memory, synchronous (src/metrics).
  instruments.claimDuration.observe((performance.now() - claimStarted) / 1000);
  if (rows.length > 0) claimedFromQueue.inc(rows.length);
  for (const row of rows) {
    const wait = secondsSince(row.run_at, nowDate.getTime());
    if (wait !== null) instruments.taskWait.observe(wait);
  }
  return rows.sort(byClaimOrder).map(toClaimedTask);
}

let keyedFirst = false;
const claimedFromQueue = instruments.tasksClaimed.labels('queue');

/** Keyed tasks, in a write transaction of their own (src/queue/flow). */
async function claimKeyed(handle: DatabaseHandle, options: ClaimOptions, at: ClaimAt & { nowDate: Date }) {
  const { db, dialect } = handle;
  return dialect.writeTransaction(db, async (trx) => {
    const { rows, seen } = await claimKeyedTasks(trx, dialect, { ...options, ...at, database: db });
    if (!seen) noteNoKeyedWork();
    return finishClaim(trx, dialect, options, rows, at);
  });
}

/** Ends the claimed tasks found expired; the others are the claim (no assignment row yet). */
async function finishClaim(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  options: ClaimOptions,
  claimed: ClaimRow[],
  at: { now: string; nowDate: Date },
): Promise<ClaimRow[]> {
  const expired = claimed.filter((row) => hasExpired(row, at.nowDate));
  await expire(
    trx,
    dialect,
    expired.map((row) => row.id),
    at.now,
  );
  const live = claimed.filter((row) => !expired.includes(row));
  return live;
}

interface ClaimAt {
  readonly limit: number;
  readonly now: string;
  readonly lockedUntil: string;
}

/** A task past `expires_at` never starts; one resuming from a sleep has started already. */
function hasExpired(row: { expires_at: string | null; resume_state: string | null }, now: Date): boolean {
  return row.expires_at !== null && row.resume_state === null && Date.parse(row.expires_at) <= now.getTime();
}

/**
 * The tasks `next` picked, as the claiming UPDATE finds them: by primary key. On PostgreSQL as
 * `id = ANY(ARRAY(SELECT id FROM next))`, an array the planner cannot size, so its one way in is
 * the key. With `id IN (SELECT id FROM next)`, statistics that count many tasks PENDING (a
 * backlog, as a bulk enqueue's ANALYZE sees it) made the planner scan the whole table and hash
 * it against the picks (on a table of 20,000 rows that looked cheaper to it than 455 key
 * lookups): a claim of 455 of 20,000 tasks took 9.3 ms instead of 4.7, and a drain of the
 * 20,000 ran at 21.3–21.9k tasks/s instead of 22.2–24.1k. SQLite builds the IN list once and
 * looks each id up.
 */
function pickedIds(dialect: DialectAdapter): RawBuilder<boolean> {
  return dialect.capabilities.arrayParameters
    ? sql<boolean>`tasks.id = ANY(ARRAY(SELECT next.id FROM next))`
    : sql<boolean>`tasks.id IN (SELECT next.id FROM next)`;
}

/** The claiming UPDATE (see claimTasks), on `db` or as a CTE of a larger statement. */
function claimStatement(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  options: ClaimOptions,
  { limit, now, lockedUntil }: ClaimAt,
) {
  return db
    .with(
      (cte) => cte('next').materialized(),
      (qb) => {
        const next = qb
          .selectFrom('tasks')
          .select('id')
          .where('status', '=', 'PENDING')
          .where('concurrency_key', 'is', null)
          .where('run_at', '<=', now)
          .$call((q) => whereClaimerMayTake(q, options))
          .orderBy('priority', 'desc')
          .orderBy('run_at')
          .orderBy('id')
          .limit(limit);
        return dialect.capabilities.skipLocked ? next.forUpdate().skipLocked() : next;
      },
    )
    .updateTable('tasks')
    .set(startedColumns({ now, lockedUntil, workerId: options.workerId }))
    .where(pickedIds(dialect))
    .where('status', '=', 'PENDING')
    .returning(CLAIM_COLUMNS);
}

/**
 * PostgreSQL: the claim in one statement, committed on its own — one round trip, which is most
 * of the enqueue-to-start latency of an idle worker. It writes no `worker_assignments` row: the
 * running attempt lives on the task row, and its assignment is written when it ends
 * (assignments.ts). A task found expired is turned EXPIRED just after, still under the lease
 * this claim took (nobody else may touch it meanwhile).
 */
async function claimInOneStatement(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  options: ClaimOptions,
  at: ClaimAt & { readonly nowDate: Date },
): Promise<ClaimRow[]> {
  const claimed = await db
    .with('claimed', (qb) => claimStatement(qb as unknown as Kysely<SwarmDatabase>, dialect, options, at))
    .selectFrom('claimed')
    .selectAll()
    .execute();
  const expired = claimed.filter((row) => hasExpired(row, at.nowDate));
  if (expired.length === 0) return claimed;
  await dialect.writeTransaction(db, (trx) =>
    expire(
      trx,
      dialect,
      expired.map((row) => row.id),
      at.now,
    ),
  );
  return claimed.filter((row) => !expired.includes(row));
}

/** Ends tasks that reached the head of the queue after their `expires_at`: they never ran. */
async function expire(trx: Kysely<SwarmDatabase>, dialect: DialectAdapter, ids: string[], now: string) {
  for (const chunk of chunksFor(dialect, ids, 1)) {
    await trx
      .updateTable('tasks')
      .set({
        status: 'EXPIRED',
        locked_by: null,
        locked_until: null,
        worker_id: null,
        assigned_at: null,
        started_at: null,
        heartbeat_at: null,
        completed_at: now,
        updated_at: now,
        error_message: 'expired before it started',
        error_code: 'EXPIRED',
      })
      .where('id', 'in', chunk)
      .execute();
  }
}
