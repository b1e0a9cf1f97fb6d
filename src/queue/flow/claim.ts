import { sql, type Kysely } from 'kysely';
import type { DialectAdapter, SwarmDatabase } from '../../storage/index.js';
import { fromDbBool, toDbTimestamp } from '../../storage/index.js';
import { whereClaimerMayTake } from '../claimer-filter.js';
import { chunksFor } from '../batch.js';
import { byClaimOrder } from '../rows.js';
import { lastKeyedEnqueueAt } from './gate.js';
import { scanParkedKeys } from './parked.js';
import { HEAD_COLUMNS, runningCounts, startTasks, type Candidate, type Head } from './slots.js';

/** What the claim of keyed tasks needs of the caller's claim (src/queue/claim.ts). */
export interface KeyedClaimAt {
  readonly limit: number;
  readonly now: string;
  readonly nowDate: Date;
  readonly lockedUntil: string;
  readonly workerId: string;
  /** The database claimed from (its handle's Kysely instance): what cached scans belong to. */
  readonly database: object;
  readonly ownerId?: string;
  readonly only?: { readonly agentName?: string; readonly capabilities?: readonly string[] };
}

/** Parked keys looked at per claim: bounds a claim's work whatever the number of full keys. */
const MAX_PARKED_KEYS = 256;
/** Parked keys locked and looked into at a time (see claimKeyedTasks). */
const KEYS_PER_ROUND = 16;

interface KeyState {
  readonly maxRunning: number | null;
  readonly rate: number | null;
  readonly periodMs: number | null;
  readonly wakeAt: string | null;
  running: number;
  starts: number;
  oldestStart: string | null;
}

/**
 * Claims keyed tasks (docs/flow-control.md), in the caller's write transaction. In short:
 *
 * 1. the keys with parked tasks (a loose index scan over idx_tasks_flow_parked: one probe per
 *    distinct key, never per parked task). Every keyed task waits parked: under its first key
 *    from its enqueue, and again when it is back on the queue (PARKED_UNDER_FIRST_KEY);
 * 2. the parked keys, a round of KEYS_PER_ROUND at a time from a random point, their rows locked
 *    FOR UPDATE SKIP LOCKED: claimers serialise per key, never wait on each other (a key another
 *    claimer holds is simply left for its next claim), so no order of locking can deadlock;
 * 3. under the locks, each key's running tasks counted (runningCounts) and its starts within the
 *    rate window; each key with room gives its oldest parked tasks, up to the room, until the
 *    claim has enough;
 * 4. all of them in claim order: a task every key of which has room starts (a slot per
 *    concurrency key but its first, a start per rate key); one refused is parked under the key
 *    that refused it, so it costs nothing until that key has room again.
 *
 * Returns the claimed rows (expired ones included: the caller ends them) and whether any keyed
 * work was seen at all (the caller stops looking for a while when there is none).
 */
export async function claimKeyedTasks(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  at: KeyedClaimAt,
): Promise<{ rows: Candidate[]; seen: boolean }> {
  const scan = await keysWithParkedTasks(trx, at.database);
  const parkedKeys = scan.keys;
  if (parkedKeys.length === 0) return { rows: [], seen: false };
  const pool = new Map<string, Head>();
  const states = new Map<string, KeyState>();

  // Parked keys a few at a time, from a random point of the list, until the claim has enough:
  // concurrent claimers start on different keys (and skip each other's), and a claim of 10
  // tasks does not lock and count a thousand keys.
  const offset = Math.floor(Math.random() * parkedKeys.length);
  const order = [...parkedKeys.slice(offset), ...parkedKeys.slice(0, offset)];
  // Rounds are disjoint and a task is parked under one key: no task is taken twice.
  for (let i = 0; i < order.length && pool.size < at.limit; i += KEYS_PER_ROUND) {
    const round = order.slice(i, i + KEYS_PER_ROUND).filter((key) => !states.has(key));
    for (const row of await takeRound(trx, dialect, at, round, at.limit - pool.size, states))
      pool.set(row.id, row);
  }
  // Keys of unparked tasks that no first round locked (a task under several limits).
  const more = new Set([...pool.values()].flatMap(keysOf).filter((key) => !states.has(key)));
  if (more.size > 0) await lockKeys(trx, dialect, at, more, states);

  const accepted: Head[] = [];
  const park = new Map<string, string[]>();
  for (const task of [...pool.values()].sort(byClaimOrder)) {
    if (accepted.length >= at.limit) break;
    const keys = keysOf(task);
    // A key another claimer holds: the task is theirs to decide on, untouched here.
    if (keys.some((key) => !states.has(key))) continue;
    const refusing = keys.find((key) => roomOf(states.get(key)!) <= 0);
    if (refusing !== undefined) {
      if (task.parked_key !== refusing) park.set(refusing, [...(park.get(refusing) ?? []), task.id]);
      continue;
    }
    for (const key of keys) {
      const state = states.get(key)!;
      state.running += 1;
      if (state.rate !== null) {
        state.starts += 1;
        state.oldestStart ??= at.now;
      }
    }
    accepted.push(task);
  }

  const newlyParked = [...park.keys()].filter((key) => !parkedKeys.includes(key));
  if (newlyParked.length > 0) scan.keys = [...parkedKeys, ...newlyParked];
  for (const [key, ids] of park)
    for (const chunk of chunksFor(dialect, ids, 1))
      await trx.updateTable('tasks').set({ parked_key: key }).where('id', 'in', chunk).execute();
  const claimed =
    accepted.length === 0
      ? []
      : await startTasks(trx, dialect, at, accepted, {
          // A task's first key counts it from its row (runningCounts): no slot.
          slotKeys: (task) =>
            keysOf(task).filter((key) => key !== task.concurrency_key && states.get(key)?.maxRunning != null),
          rateKeys: (task) => keysOf(task).filter((key) => states.get(key)?.rate != null),
        });
  await rememberWakeTimes(trx, at, states);
  return { rows: claimed, seen: true };
}

/**
 * A round of the claim: locks `round`'s keys (those another claimer holds are skipped), reads
 * each one's state into `states`, and takes, key by key in the round's order, the oldest parked
 * tasks of each key with room (and not waiting for its rate window), up to its room and to
 * what is left of `budget`. PostgreSQL does it all in one round trip (swarm_flow_round,
 * migration 0043); SQLite (one writer, no round trips) in statements, the same steps.
 */
async function takeRound(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  at: KeyedClaimAt,
  round: readonly string[],
  budget: number,
  states: Map<string, KeyState>,
): Promise<Head[]> {
  if (round.length === 0) return [];
  if (dialect.name === 'postgres') return takeRoundInOneCall(trx, at, round, budget, states);
  await lockKeys(trx, dialect, at, new Set(round), states);
  const heads: Head[] = [];
  for (const key of round) {
    if (budget <= 0) break;
    const state = states.get(key);
    if (state === undefined || (state.wakeAt !== null && state.wakeAt > at.now)) continue;
    const room = Math.min(roomOf(state), budget);
    if (room <= 0) continue;
    const rows = await trx
      .selectFrom('tasks')
      .select(HEAD_COLUMNS)
      .where('status', '=', 'PENDING')
      .where('parked_key', '=', key)
      .where('run_at', '<=', at.now)
      .$call((q) => whereClaimerMayTake(q, at))
      .orderBy('priority', 'desc')
      .orderBy('run_at')
      .orderBy('id')
      .limit(room)
      .execute();
    heads.push(...rows);
    budget -= rows.length;
  }
  return heads;
}

/** PostgreSQL's round (see takeRound): a row per locked key, then one per task taken. */
async function takeRoundInOneCall(
  trx: Kysely<SwarmDatabase>,
  at: KeyedClaimAt,
  round: readonly string[],
  budget: number,
  states: Map<string, KeyState>,
): Promise<Head[]> {
  const result = await sql<
    LockedKeyRow & {
      id: string | null;
      priority: number;
      run_at: string;
      flow_keys: string | null;
      concurrency_key: string | null;
      parked_key: string | null;
    }
  >`SELECT * FROM swarm_flow_round(${round}::text[], ${budget}::integer, ${at.now}::timestamptz,
    ${at.ownerId ?? null}::text, ${at.only?.agentName ?? null}::text,
    ${at.only === undefined ? null : [...(at.only.capabilities ?? [])]}::text[])`.execute(trx);
  const heads: Head[] = [];
  for (const row of result.rows) {
    if (row.id === null) states.set(row.key, lockedKeyOfRow(row));
    else heads.push(row as Head);
  }
  return heads;
}

/**
 * How long one scan of parked keys serves the claims after it, in this process: under load a
 * worker claims hundreds of times a second, and the scan was a round trip of each claim. A key
 * this process parks or enqueues under is seen at once (the cached list gains it, or the cache
 * is dropped); one only another process parks under is seen within PARKED_SCAN_MS. A key left
 * in the list with nothing parked costs a claim nothing but an empty look at its head.
 */
const PARKED_SCAN_MS = 100;

interface ParkedScan {
  keys: string[];
  readonly at: number;
  /** Where the last capped scan stopped: the next one goes on from there (see below). */
  readonly cursor: string;
}

/** The last scan of parked keys, per database (its handle's Kysely instance). */
const parkedScans = new WeakMap<object, ParkedScan>();

/**
 * The distinct keys parked tasks wait under: a loose index scan, one probe per key, at most
 * MAX_PARKED_KEYS from where the last capped scan stopped (so with more parked keys every key
 * still gets its turn), wrapping round to the first. A scan that reached every parked key is
 * reused for PARKED_SCAN_MS.
 */
async function keysWithParkedTasks(trx: Kysely<SwarmDatabase>, database: object): Promise<ParkedScan> {
  const last = parkedScans.get(database);
  const now = performance.now();
  // A capped scan is not reused: the next claim goes on to the keys it did not reach.
  if (
    last !== undefined &&
    last.cursor === '' &&
    now - last.at < PARKED_SCAN_MS &&
    last.at > lastKeyedEnqueueAt()
  )
    return last;
  const after = last?.cursor ?? '';
  const keys = await scanParkedKeys(trx, after, MAX_PARKED_KEYS);
  if (keys.length < MAX_PARKED_KEYS && after !== '')
    for (const key of await scanParkedKeys(trx, '', MAX_PARKED_KEYS - keys.length))
      if (key <= after) keys.push(key);
  const scan = { keys, at: now, cursor: keys.length >= MAX_PARKED_KEYS ? keys[keys.length - 1]! : '' };
  parkedScans.set(database, scan);
  return scan;
}

function keysOf(task: { flow_keys: string | null; concurrency_key: string | null }): string[] {
  if (task.flow_keys !== null) return JSON.parse(task.flow_keys) as string[];
  return task.concurrency_key === null ? [] : [task.concurrency_key];
}

function roomOf(state: KeyState): number {
  let room = Number.POSITIVE_INFINITY;
  if (state.maxRunning !== null) room = state.maxRunning - state.running;
  if (state.rate !== null) room = Math.min(room, state.rate - state.starts);
  return room;
}

/**
 * Locks the keys' rows (those another claimer holds are skipped) and reads, under the locks,
 * what each allows now: its running tasks and its starts within the rate window.
 */
async function lockKeys(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  at: KeyedClaimAt,
  keys: ReadonlySet<string>,
  states: Map<string, KeyState>,
): Promise<void> {
  const wanted = [...keys].sort();
  if (wanted.length === 0) return;
  const locked =
    dialect.name === 'postgres'
      ? await lockKeysInOneCall(trx, wanted, at)
      : await lockKeysByStatements(trx, dialect, wanted, at);
  for (const row of locked) states.set(row.key, row);
}

type LockedKey = KeyState & { readonly key: string };

/** A `flow_keys` row as read under its lock. */
interface KeyRow {
  key: string;
  max_running: number | null;
  rate_limit: number | null;
  period_ms: number | string | null;
  wake_at: string | null;
}

/** A locked key's state, from its row and what was counted under the lock. */
function lockedKey(
  row: KeyRow,
  counted: { running: number; starts: number; oldestStart: string | null },
): LockedKey {
  return {
    key: row.key,
    maxRunning: row.max_running,
    rate: row.rate_limit,
    periodMs: row.period_ms === null ? null : Number(row.period_ms),
    wakeAt: row.wake_at === null ? null : toDbTimestamp(new Date(row.wake_at)),
    ...counted,
  };
}

/**
 * PostgreSQL: swarm_lock_flow_keys (migration 0042) locks, prunes and counts in one round trip;
 * its counts run after its lock, each statement of it under a fresh snapshot.
 */
async function lockKeysInOneCall(
  trx: Kysely<SwarmDatabase>,
  wanted: readonly string[],
  at: KeyedClaimAt,
): Promise<LockedKey[]> {
  const result =
    await sql<LockedKeyRow>`SELECT * FROM swarm_lock_flow_keys(${wanted}::text[], ${at.now}::timestamptz)`.execute(
      trx,
    );
  return result.rows.map(lockedKeyOfRow);
}

/** A key's row as swarm_lock_flow_keys and swarm_flow_round return it (PostgreSQL). */
type LockedKeyRow = KeyRow & {
  running: number | string;
  starts: number | string;
  oldest_start: string | null;
};

function lockedKeyOfRow(row: LockedKeyRow): LockedKey {
  return lockedKey(row, {
    running: Number(row.running),
    starts: Number(row.starts),
    oldestStart: row.oldest_start === null ? null : toDbTimestamp(new Date(row.oldest_start)),
  });
}

/**
 * SQLite (one writer: its write transaction is the lock): the keys' rows, then their running
 * tasks (runningCounts) and, per rate-limited key, its starts within the window, old ones pruned.
 */
async function lockKeysByStatements(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  wanted: readonly string[],
  at: KeyedClaimAt,
): Promise<LockedKey[]> {
  const rows: (KeyRow & { slotted: boolean | number })[] = [];
  for (const chunk of chunksFor(dialect, wanted, 1))
    rows.push(
      ...(await trx
        .selectFrom('flow_keys')
        .select(['key', 'max_running', 'rate_limit', 'period_ms', 'wake_at', 'slotted'])
        .where('key', 'in', chunk)
        .orderBy('key')
        .execute()),
    );
  const limited = rows.filter((row) => row.max_running !== null);
  const running = await runningCounts(
    trx,
    dialect,
    limited.map((row) => row.key),
    limited.filter((row) => fromDbBool(row.slotted)).map((row) => row.key),
  );
  const locked: LockedKey[] = [];
  for (const row of rows) {
    const counted = { running: running.get(row.key) ?? 0, starts: 0, oldestStart: null as string | null };
    const periodMs = row.period_ms === null ? null : Number(row.period_ms);
    if (row.rate_limit !== null && periodMs !== null) {
      const since = toDbTimestamp(new Date(at.nowDate.getTime() - periodMs));
      await trx
        .deleteFrom('flow_starts')
        .where('key', '=', row.key)
        .where('started_at', '<=', since)
        .execute();
      const window = await trx
        .selectFrom('flow_starts')
        .select([
          (eb) => eb.fn.countAll<number | string>().as('n'),
          (eb) => eb.fn.min('started_at').as('oldest'),
        ])
        .where('key', '=', row.key)
        .executeTakeFirst();
      counted.starts = Number(window?.n ?? 0);
      counted.oldestStart = window?.oldest == null ? null : toDbTimestamp(new Date(window.oldest));
    }
    locked.push(lockedKey(row, counted));
  }
  return locked;
}

/**
 * A full rate-limited key is not looked at again before its oldest start leaves the window:
 * its parked tasks cost nothing until then.
 */
async function rememberWakeTimes(
  trx: Kysely<SwarmDatabase>,
  at: KeyedClaimAt,
  states: ReadonlyMap<string, KeyState>,
): Promise<void> {
  for (const [key, state] of states) {
    if (state.rate === null || state.periodMs === null) continue;
    const wakeAt =
      state.starts >= state.rate && state.oldestStart !== null
        ? toDbTimestamp(new Date(Date.parse(state.oldestStart) + state.periodMs))
        : null;
    if (wakeAt === state.wakeAt) continue;
    await trx.updateTable('flow_keys').set({ wake_at: wakeAt }).where('key', '=', key).execute();
  }
}
