import { sql, type Expression, type Kysely } from 'kysely';
import type { DialectAdapter, SwarmDatabase } from '../../storage/index.js';
import { newId, toDbTimestamp } from '../../storage/index.js';
import { whereClaimerMayTake } from '../claimer-filter.js';
import { chunksFor } from '../batch.js';
import { byClaimOrder, CLAIM_COLUMNS, type ClaimRow } from '../rows.js';

/** What the claim of keyed tasks needs of the caller's claim (src/queue/claim.ts). */
export interface KeyedClaimAt {
  readonly limit: number;
  readonly now: string;
  readonly nowDate: Date;
  readonly lockedUntil: string;
  readonly workerId: string;
  readonly ownerId?: string;
  readonly only?: { readonly agentName?: string; readonly capabilities?: readonly string[] };
}

/** Parked keys looked at per claim: bounds a claim's work whatever the number of full keys. */
const MAX_PARKED_KEYS = 256;
/** Parked keys locked and looked into at a time (see claimKeyedTasks). */
const KEYS_PER_ROUND = 16;

type Candidate = ClaimRow & { flow_keys: string | null; parked_key: string | null };

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
 *    distinct key, never per parked task), and the ready keyed tasks not parked (tasks back on
 *    the queue after a retry, a reclaim or a sleep), head of the queue first;
 * 2. their keys' rows locked FOR UPDATE SKIP LOCKED: claimers serialise per key, never wait on
 *    each other (a key another claimer holds is simply left for its next claim), so no order of
 *    locking can deadlock;
 * 3. under the locks, each key's live slots counted (dead ones pruned: a slot counts only while
 *    its task is RUNNING at the slot's lease_epoch) and its starts within the rate window;
 * 4. parked keys, a round of KEYS_PER_ROUND at a time from a random point, locked the same way;
 *    each with room gives its oldest parked tasks, up to the room, until the claim has enough;
 * 5. all of them in claim order: a task every key of which has room starts (a slot per
 *    concurrency key, a start per rate key); one refused is parked under the key that refused
 *    it, so it costs nothing until that key has room again.
 *
 * Returns the claimed rows (expired ones included: the caller ends them) and whether any keyed
 * work was seen at all (the caller stops looking for a while when there is none).
 */
export async function claimKeyedTasks(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  at: KeyedClaimAt,
): Promise<{ rows: Candidate[]; seen: boolean }> {
  const lock = dialect.capabilities.skipLocked;
  const parkedKeys = await keysWithParkedTasks(trx);
  let ready = trx
    .selectFrom('tasks')
    .select([...CLAIM_COLUMNS, 'flow_keys', 'parked_key'])
    .where('status', '=', 'PENDING')
    .where('concurrency_key', 'is not', null)
    .where('parked_key', 'is', null)
    .where('run_at', '<=', at.now)
    .$call((q) => whereClaimerMayTake(q, at))
    .orderBy('priority', 'desc')
    .orderBy('run_at')
    .orderBy('id')
    .limit(at.limit);
  if (lock) ready = ready.forUpdate().skipLocked();
  const pool = new Map<string, Candidate>();
  for (const row of await ready.execute()) pool.set(row.id, row);
  if (parkedKeys.length === 0 && pool.size === 0) return { rows: [], seen: false };

  const states = new Map<string, KeyState>();
  await lockKeys(trx, dialect, at, new Set([...pool.values()].flatMap(keysOf)), states);

  // Parked keys a few at a time, from a random point of the list, until the claim has enough:
  // concurrent claimers start on different keys (and skip each other's), and a claim of 10
  // tasks does not lock and count a thousand keys.
  const offset = Math.floor(Math.random() * parkedKeys.length);
  const order = [...parkedKeys.slice(offset), ...parkedKeys.slice(0, offset)];
  let unparked = 0;
  for (let i = 0; i < order.length && unparked < at.limit; i += KEYS_PER_ROUND) {
    const round = order.slice(i, i + KEYS_PER_ROUND);
    await lockKeys(trx, dialect, at, new Set(round.filter((key) => !states.has(key))), states);
    // Each key with room gives up to its room, the claim's limit shared out in round order.
    const wanted: { key: string; room: number }[] = [];
    let left = at.limit - unparked;
    for (const key of round) {
      const state = states.get(key);
      if (state === undefined || (state.wakeAt !== null && state.wakeAt > at.now)) continue;
      const room = Math.min(roomOf(state), left);
      if (room <= 0) continue;
      wanted.push({ key, room });
      left -= room;
      if (left <= 0) break;
    }
    for (const row of await parkedHeads(trx, dialect, at, wanted)) {
      if (!pool.has(row.id)) unparked++;
      pool.set(row.id, row);
    }
  }
  // Keys of unparked tasks that no first round locked (a task under several limits).
  const more = new Set([...pool.values()].flatMap(keysOf).filter((key) => !states.has(key)));
  if (more.size > 0) await lockKeys(trx, dialect, at, more, states);

  const accepted: Candidate[] = [];
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

  for (const [key, ids] of park)
    for (const chunk of chunksFor(dialect, ids, 1))
      await trx.updateTable('tasks').set({ parked_key: key }).where('id', 'in', chunk).execute();
  const claimed = accepted.length === 0 ? [] : await start(trx, dialect, at, accepted, states);
  await rememberWakeTimes(trx, at, states);
  return { rows: claimed, seen: true };
}

/**
 * The oldest parked tasks of each key, up to its room, locked (PostgreSQL: SKIP LOCKED). On
 * PostgreSQL one statement for all the keys of a round — each key's head is its own LATERAL
 * subquery over idx_tasks_flow_parked, so a round costs one round trip, not one per key; SQLite
 * (one writer, no LATERAL, no round trip) asks key by key.
 */
async function parkedHeads(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  at: KeyedClaimAt,
  wanted: readonly { key: string; room: number }[],
): Promise<Candidate[]> {
  if (wanted.length === 0) return [];
  const head = (key: Expression<string>, room: Expression<number>) => {
    const q = trx
      .selectFrom('tasks')
      .select([...CLAIM_COLUMNS, 'flow_keys', 'parked_key'])
      .where('status', '=', 'PENDING')
      .where('parked_key', '=', key)
      .where('run_at', '<=', at.now)
      .$call((q) => whereClaimerMayTake(q, at))
      .orderBy('priority', 'desc')
      .orderBy('run_at')
      .orderBy('id')
      .limit(room);
    return dialect.capabilities.skipLocked ? q.forUpdate().skipLocked() : q;
  };
  if (!dialect.capabilities.arrayParameters) {
    const rows: Candidate[] = [];
    for (const { key, room } of wanted) rows.push(...(await head(sql.val(key), sql.val(room)).execute()));
    return rows;
  }
  const keys = sql<{
    key: string;
    room: number;
  }>`(SELECT unnest(cast(${wanted.map((w) => w.key)} as text[])) AS key,
    unnest(cast(${wanted.map((w) => w.room)} as integer[])) AS room)`;
  return (await trx
    .selectFrom(keys.as('k'))
    .innerJoinLateral(
      () => head(sql.ref<string>('k.key'), sql.ref<number>('k.room')).as('t'),
      (join) => join.onTrue(),
    )
    .selectAll('t')
    .execute()) as Candidate[];
}

/**
 * Where the last capped scan of parked keys stopped (this process): the next one goes on from
 * there, so with more than MAX_PARKED_KEYS parked keys every key still gets its turn.
 */
let parkedCursor = '';

/**
 * The distinct keys parked tasks wait under: a loose index scan, one probe per key, at most
 * MAX_PARKED_KEYS from where the last capped scan stopped, wrapping round to the first.
 */
async function keysWithParkedTasks(trx: Kysely<SwarmDatabase>): Promise<string[]> {
  const after = parkedCursor;
  const keys = await scanParkedKeys(trx, after, MAX_PARKED_KEYS);
  if (keys.length < MAX_PARKED_KEYS && after !== '')
    for (const key of await scanParkedKeys(trx, '', MAX_PARKED_KEYS - keys.length))
      if (key <= after) keys.push(key);
  parkedCursor = keys.length >= MAX_PARKED_KEYS ? keys[keys.length - 1]! : '';
  return keys;
}

async function scanParkedKeys(trx: Kysely<SwarmDatabase>, after: string, most: number): Promise<string[]> {
  const result = await sql<{ key: string | null }>`
    WITH RECURSIVE parked(key, n) AS (
      SELECT (SELECT min(parked_key) FROM tasks
              WHERE status = 'PENDING' AND parked_key IS NOT NULL AND parked_key > ${after}), 1
      UNION ALL
      SELECT (SELECT min(parked_key) FROM tasks
              WHERE status = 'PENDING' AND parked_key IS NOT NULL AND parked_key > parked.key), n + 1
      FROM parked WHERE parked.key IS NOT NULL AND n < ${most}
    )
    SELECT key FROM parked WHERE key IS NOT NULL`.execute(trx);
  return result.rows.map((row) => row.key!);
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
 * what each allows now: live slots (dead ones pruned first) and starts within the window.
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
  const locked: {
    key: string;
    max_running: number | null;
    rate_limit: number | null;
    period_ms: number | string | null;
    wake_at: string | null;
  }[] = [];
  for (const chunk of chunksFor(dialect, wanted, 1)) {
    let q = trx
      .selectFrom('flow_keys')
      .select(['key', 'max_running', 'rate_limit', 'period_ms', 'wake_at'])
      .where('key', 'in', chunk)
      .orderBy('key');
    if (dialect.capabilities.skipLocked) q = q.forUpdate().skipLocked();
    locked.push(...(await q.execute()));
  }
  const concurrent = locked.filter((row) => row.max_running !== null).map((row) => row.key);
  const running = new Map<string, number>();
  for (const chunk of chunksFor(dialect, concurrent, 1)) {
    // Self-healing slots: whatever ended a task (completion, failure, sleep, reclaim after a
    // kill -9, cancellation), its slot stops counting the moment it stopped RUNNING at its epoch.
    await trx
      .deleteFrom('flow_slots')
      .where('key', 'in', chunk)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('tasks as t')
              .select(sql`1`.as('one'))
              .whereRef('t.id', '=', 'flow_slots.task_id')
              .where('t.status', '=', 'RUNNING')
              .whereRef('t.lease_epoch', '=', 'flow_slots.lease_epoch'),
          ),
        ),
      )
      .execute();
    const counts = await trx
      .selectFrom('flow_slots')
      .select(['key', (eb) => eb.fn.countAll<number | string>().as('n')])
      .where('key', 'in', chunk)
      .groupBy('key')
      .execute();
    for (const row of counts) running.set(row.key, Number(row.n));
  }
  for (const row of locked) {
    const periodMs = row.period_ms === null ? null : Number(row.period_ms);
    const state: KeyState = {
      maxRunning: row.max_running,
      rate: row.rate_limit,
      periodMs,
      wakeAt: row.wake_at === null ? null : toDbTimestamp(new Date(row.wake_at)),
      running: running.get(row.key) ?? 0,
      starts: 0,
      oldestStart: null,
    };
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
      state.starts = Number(window?.n ?? 0);
      state.oldestStart = window?.oldest == null ? null : toDbTimestamp(new Date(window.oldest));
    }
    states.set(row.key, state);
  }
}

/** Starts the accepted tasks: RUNNING under a new lease, a slot per concurrency key, a start per rate key. */
async function start(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  at: KeyedClaimAt,
  accepted: readonly Candidate[],
  states: ReadonlyMap<string, KeyState>,
): Promise<Candidate[]> {
  const claimed: Candidate[] = [];
  for (const chunk of chunksFor(
    dialect,
    accepted.map((task) => task.id),
    1,
  )) {
    const rows = await trx
      .updateTable('tasks')
      .set((eb) => ({
        status: 'RUNNING',
        parked_key: null,
        lease_epoch: eb('lease_epoch', '+', 1),
        locked_by: at.workerId,
        locked_until: at.lockedUntil,
        worker_id: at.workerId,
        assigned_at: at.now,
        started_at: at.now,
        heartbeat_at: at.now,
        updated_at: at.now,
      }))
      .where('id', 'in', chunk)
      .where('status', '=', 'PENDING')
      .returning([...CLAIM_COLUMNS, 'flow_keys', 'parked_key'])
      .execute();
    claimed.push(...rows);
  }
  const slots = claimed.flatMap((task) =>
    keysOf(task)
      .filter((key) => states.get(key)?.maxRunning != null)
      .map((key) => ({ id: newId(), key, task_id: task.id, lease_epoch: task.lease_epoch })),
  );
  for (const chunk of chunksFor(dialect, slots, 4))
    await trx
      .insertInto('flow_slots')
      .values(chunk)
      .onConflict((oc) =>
        oc.columns(['key', 'task_id']).doUpdateSet((eb) => ({ lease_epoch: eb.ref('excluded.lease_epoch') })),
      )
      .execute();
  const starts = claimed.flatMap((task) =>
    keysOf(task)
      .filter((key) => states.get(key)?.rate != null)
      .map((key) => ({ id: newId(), key, started_at: at.now })),
  );
  for (const chunk of chunksFor(dialect, starts, 3))
    await trx.insertInto('flow_starts').values(chunk).execute();
  return claimed;
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
