import { sql, type Kysely } from 'kysely';
import type { DialectAdapter, SwarmDatabase } from '../../storage/index.js';
import { chunksFor } from '../batch.js';
import { liveSlots } from './slots.js';

/** Keys looked at, then locked and deleted, per transaction. */
const KEYS_PER_BATCH = 5000;

interface KeyLimits {
  readonly key: string;
  readonly rate_limit: number | null;
  readonly period_ms: number | string | null;
}

/**
 * Deletes the flow keys nothing needs any more, with their slots and starts: keys no unfinished
 * task is under, with no live slot and no start within their rate window. Keys taken from
 * values (`key: input.customer`) would otherwise grow `flow_keys` by one row per value ever
 * seen. A key enqueued again later is registered again, with the limits of that enqueue.
 *
 * The keys in use are read first, without locks, so the keys locked below are only ones that
 * looked idle: the quota key of a busy owner is never held up. Then, a batch at a time, the
 * idle-looking keys are locked (PostgreSQL: FOR UPDATE SKIP LOCKED, which skips a key a claim
 * or an enqueue holds; migration 0048) and checked again by the statements after the lock, which
 * see every task the enqueues before it committed. Returns how many keys were deleted.
 */
export async function pruneIdleFlowKeys(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  options: { readonly now?: Date; readonly stop?: () => boolean; readonly batch?: number } = {},
): Promise<number> {
  const batch = options.batch ?? KEYS_PER_BATCH;
  const inUse = await keysOfUnfinishedTasks(db, dialect);
  let pruned = 0;
  let after = '';
  while (!(options.stop?.() ?? false)) {
    const page = await db
      .selectFrom('flow_keys')
      .select(['key', 'rate_limit', 'period_ms'])
      .where('key', '>', after)
      .orderBy('key')
      .limit(batch)
      .execute();
    if (page.length === 0) break;
    after = page[page.length - 1]!.key;
    const now = options.now ?? new Date();
    const candidates = await idleOf(
      db,
      dialect,
      page.filter((row) => !inUse.has(row.key)),
      now,
    );
    if (candidates.length > 0)
      pruned += await dialect.writeTransaction(db, (trx) => deleteIfIdle(trx, dialect, candidates, now));
    if (page.length < batch) break;
  }
  return pruned;
}

/** Locks `candidates` where no one else holds them, checks them again and deletes the idle. */
async function deleteIfIdle(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  candidates: readonly string[],
  now: Date,
): Promise<number> {
  const locked: KeyLimits[] = [];
  for (const chunk of chunksFor(dialect, candidates, 1)) {
    const query = trx
      .selectFrom('flow_keys')
      .select(['key', 'rate_limit', 'period_ms'])
      .where('key', 'in', chunk)
      .orderBy('key');
    locked.push(
      ...(await (dialect.capabilities.skipLocked ? query.forUpdate().skipLocked() : query).execute()),
    );
  }
  if (locked.length === 0) return 0;
  const inUse = await keysOfUnfinishedTasks(
    trx,
    dialect,
    locked.map((row) => row.key),
  );
  const idle = await idleOf(
    trx,
    dialect,
    locked.filter((row) => !inUse.has(row.key)),
    now,
  );
  for (const chunk of chunksFor(dialect, idle, 1)) {
    await trx.deleteFrom('flow_slots').where('key', 'in', chunk).execute();
    await trx.deleteFrom('flow_starts').where('key', 'in', chunk).execute();
    await trx.deleteFrom('flow_keys').where('key', 'in', chunk).execute();
  }
  return idle.length;
}

/** The keys of `rows` with no live slot and no start within their rate window. */
async function idleOf(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  rows: readonly KeyLimits[],
  now: Date,
): Promise<string[]> {
  const busy = new Set<string>();
  const periods = new Map(
    rows.map((row) => [row.key, row.rate_limit === null ? null : Number(row.period_ms)]),
  );
  for (const chunk of chunksFor(
    dialect,
    rows.map((row) => row.key),
    1,
  )) {
    for (const row of await liveSlots(db).select('s.key').distinct().where('s.key', 'in', chunk).execute())
      busy.add(row.key);
    const latest = await db
      .selectFrom('flow_starts')
      .select(['key', (eb) => eb.fn.max('started_at').as('at')])
      .where('key', 'in', chunk)
      .groupBy('key')
      .execute();
    for (const row of latest) {
      const period = periods.get(row.key);
      if (period != null && new Date(row.at).getTime() > now.getTime() - period) busy.add(row.key);
    }
  }
  return rows.map((row) => row.key).filter((key) => !busy.has(key));
}

/**
 * Every key some unfinished task is under (its `flow_keys`, first one included), or those of
 * them among `among`. An unfinished keyed task is parked (`PENDING`: every keyed task waits
 * parked, under one of its keys) or `RUNNING`; each set is read over its own partial index
 * (idx_tasks_flow_parked, idx_tasks_flow_running). No task is `ASSIGNED` today.
 */
async function keysOfUnfinishedTasks(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  among?: readonly string[],
): Promise<Set<string>> {
  const unfinished = sql`(SELECT flow_keys, concurrency_key FROM tasks
      WHERE status = 'PENDING' AND parked_key IS NOT NULL
    UNION ALL
    SELECT flow_keys, concurrency_key FROM tasks
      WHERE status = 'RUNNING' AND concurrency_key IS NOT NULL)`;
  const keysWhere = async (only: readonly string[] | undefined) => {
    const query =
      dialect.name === 'postgres'
        ? sql<{ key: string }>`SELECT DISTINCT e.key FROM ${unfinished} t
          CROSS JOIN LATERAL jsonb_array_elements_text(
            coalesce(t.flow_keys::jsonb, jsonb_build_array(t.concurrency_key))) AS e(key)
          ${only === undefined ? sql`` : sql`WHERE e.key = ANY(${[...only]}::text[])`}`
        : sql<{ key: string }>`SELECT DISTINCT e.value AS key FROM ${unfinished} t,
          json_each(coalesce(t.flow_keys, json_array(t.concurrency_key))) e
          ${only === undefined ? sql`` : sql`WHERE e.value IN (${sql.join([...only])})`}`;
    return (await query.execute(db)).rows.map((row) => row.key);
  };
  if (among === undefined) return new Set(await keysWhere(undefined));
  const keys = new Set<string>();
  for (const chunk of chunksFor(dialect, among, 1)) for (const key of await keysWhere(chunk)) keys.add(key);
  return keys;
}
