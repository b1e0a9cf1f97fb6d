import { sql, type Kysely } from 'kysely';
import { toDbTimestamp, type SwarmDatabase } from '../../storage/index.js';
import { describeFlowKey } from './keys.js';
import { scanParkedKeys } from './parked.js';
import { liveSlots } from './slots.js';

/** Keys listed at most (the busiest first within the listing: see listFlowKeys). */
export const MAX_LISTED_KEYS = 500;

export interface FlowKeyView {
  readonly key: string;
  readonly kind: 'concurrency' | 'rate';
  readonly scope: string;
  readonly ownerId: string;
  /** The workflow and step, the agent, or nothing (owner scope), as the key is namespaced. */
  readonly namespace: readonly string[];
  /** What the key expression gave ('' for the scope's single key). */
  readonly value: string;
  readonly limit: number | null;
  readonly rateLimit: number | null;
  readonly periodMs: number | null;
  /** Tasks holding a live slot now (concurrency keys). */
  readonly running: number;
  /** Starts within the current window (rate keys). */
  readonly recentStarts: number;
  /** Tasks parked under the key, waiting for room. */
  readonly waiting: number;
}

/**
 * The flow keys of one owner (or every owner's, for an admin), with what they hold now: live
 * slots, starts within the window, parked tasks. Keys with running or waiting tasks come first,
 * found from the tasks (a key's row changes only with its limits, so its age says nothing of
 * its use); the most recently set keys fill the listing up to MAX_LISTED_KEYS.
 */
export async function listFlowKeys(
  db: Kysely<SwarmDatabase>,
  ownerId: string | null,
  now: Date = new Date(),
): Promise<{ keys: FlowKeyView[]; truncated: boolean }> {
  const keysOf = (keys?: readonly string[]) =>
    db
      .selectFrom('flow_keys')
      .selectAll()
      .$if(ownerId !== null, (q) => q.where('owner_id', '=', ownerId!))
      .$if(keys !== undefined, (q) => q.where('key', 'in', keys!));
  const inUse = await keysInUse(db, ownerId);
  const busyRows = inUse.keys.length === 0 ? [] : await keysOf(inUse.keys).execute();
  const recent = await keysOf()
    // Both descending: idx_flow_keys_(owner_)updated read backwards (migration 0047).
    .orderBy('updated_at', 'desc')
    .orderBy('key', 'desc')
    .limit(MAX_LISTED_KEYS + 1)
    .execute();
  const seen = new Set(busyRows.map((row) => row.key));
  const rows = [...busyRows, ...recent.filter((row) => !seen.has(row.key))];
  const truncated = rows.length > MAX_LISTED_KEYS;
  const listed = rows.slice(0, MAX_LISTED_KEYS);
  const keys = listed.map((row) => row.key);
  // A key's running tasks: its live slots, and (concurrency keys) the RUNNING tasks whose first
  // key it is, counted from their own rows (src/queue/flow/slots.ts, runningCounts).
  const running = (row: (typeof listed)[number]) =>
    (inUse.inSlots.get(row.key) ?? 0) +
    (row.max_running === null ? 0 : (inUse.underFirstKey.get(row.key) ?? 0));
  const waiting = new Map<string, number>();
  if (keys.length > 0) {
    const parked = await db
      .selectFrom('tasks')
      .select(['parked_key', (eb) => eb.fn.countAll<number | string>().as('n')])
      .where('status', '=', 'PENDING')
      .where('parked_key', 'in', keys)
      .groupBy('parked_key')
      .execute();
    for (const row of parked) waiting.set(row.parked_key!, Number(row.n));
  }
  const starts = await startsWithinPeriod(db, listed, now);
  const views = listed.map((row): FlowKeyView => {
    const about = describeFlowKey(row.key);
    return {
      key: row.key,
      kind: about.kind,
      scope: row.scope,
      ownerId: row.owner_id,
      namespace: about.namespace,
      value: about.value,
      limit: row.max_running,
      rateLimit: row.rate_limit,
      periodMs: row.period_ms === null ? null : Number(row.period_ms),
      running: running(row),
      recentStarts: starts.get(row.key) ?? 0,
      waiting: waiting.get(row.key) ?? 0,
    };
  });
  views.sort((a, b) => b.waiting + b.running - (a.waiting + a.running));
  return { keys: views, truncated };
}

/**
 * Keys with tasks running under them (a first key, or a live slot) or parked, waiting for room:
 * running ones first (as many as tasks run at once, at most), then parked ones in key order,
 * MAX_LISTED_KEYS in all. With the running tasks per first key and per live slot: every key
 * that has any is here, so the listing counts none again.
 */
async function keysInUse(
  db: Kysely<SwarmDatabase>,
  ownerId: string | null,
): Promise<{ keys: string[]; underFirstKey: Map<string, number>; inSlots: Map<string, number> }> {
  const firstKeys = await db
    .selectFrom('tasks')
    .select(['concurrency_key as key', (eb) => eb.fn.countAll<number | string>().as('n')])
    .where('status', '=', 'RUNNING')
    .where('concurrency_key', 'is not', null)
    // Not by the owner's index: see scanParkedKeys.
    .$if(ownerId !== null, (q) => q.where(sql<string>`owner_id || ''`, '=', ownerId!))
    .groupBy('concurrency_key')
    .execute();
  const slotKeys = await liveSlots(db)
    .select(['s.key', (eb) => eb.fn.countAll<number | string>().as('n')])
    .$if(ownerId !== null, (q) => q.where('t.owner_id', '=', ownerId!))
    .groupBy('s.key')
    .execute();
  const underFirstKey = new Map(firstKeys.map((row) => [row.key!, Number(row.n)]));
  const inSlots = new Map(slotKeys.map((row) => [row.key, Number(row.n)]));
  const keys = new Set([...underFirstKey.keys(), ...inSlots.keys()]);
  const running = [...keys].sort().slice(0, MAX_LISTED_KEYS);
  const room = MAX_LISTED_KEYS - running.length;
  const parked = room > 0 ? await scanParkedKeys(db, '', room + running.length, ownerId) : [];
  return {
    keys: [...running, ...parked.filter((key) => !keys.has(key)).slice(0, room)],
    underFirstKey,
    inSlots,
  };
}

/** Each rate key's starts within its period before `now`: one count per distinct period. */
async function startsWithinPeriod(
  db: Kysely<SwarmDatabase>,
  rows: readonly { key: string; rate_limit: number | null; period_ms: number | string | null }[],
  now: Date,
): Promise<Map<string, number>> {
  const byPeriod = new Map<number, string[]>();
  for (const row of rows) {
    if (row.rate_limit === null || row.period_ms === null) continue;
    const period = Number(row.period_ms);
    byPeriod.set(period, [...(byPeriod.get(period) ?? []), row.key]);
  }
  const starts = new Map<string, number>();
  for (const [period, keys] of byPeriod) {
    const counted = await db
      .selectFrom('flow_starts')
      .select(['key', sql<number | string>`count(*)`.as('n')])
      .where('key', 'in', keys)
      .where('started_at', '>', toDbTimestamp(new Date(now.getTime() - period)))
      .groupBy('key')
      .execute();
    for (const row of counted) starts.set(row.key, Number(row.n));
  }
  return starts;
}
