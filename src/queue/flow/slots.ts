import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { DialectAdapter, SwarmDatabase } from '../../storage/index.js';
import { newId } from '../../storage/index.js';
import { chunksFor } from '../batch.js';
import { CLAIM_COLUMNS, startedColumns, type ClaimRow } from '../rows.js';

/** A keyed claim's candidate: the claim columns, its keys and the key it is parked under. */
export type Candidate = ClaimRow & { flow_keys: string | null; parked_key: string | null };
export const CANDIDATE_COLUMNS = [...CLAIM_COLUMNS, 'flow_keys', 'parked_key'] as const;

/** What a keyed claim decides on of a parked task (the start's RETURNING gives the rest). */
export type Head = Pick<
  Candidate,
  'id' | 'priority' | 'run_at' | 'flow_keys' | 'concurrency_key' | 'parked_key'
>;
export const HEAD_COLUMNS = [
  'id',
  'priority',
  'run_at',
  'flow_keys',
  'concurrency_key',
  'parked_key',
] as const;

/** What the start of a task gives each of its keys (src/queue/flow/claim.ts). */
export interface StartedKeys {
  /** The keys a task holds a slot of while it runs (concurrency limits). */
  readonly slotKeys: (task: Head) => readonly string[];
  /** The keys a task's start counts against (rate limits). */
  readonly rateKeys: (task: Head) => readonly string[];
}

/**
 * How many tasks of each of `keys` (whose rows the caller has locked) run now. A keyed task
 * counts against its first key (`concurrency_key`) from its own row while it is RUNNING: over
 * idx_tasks_flow_running, nothing written at its start nor given back at its end. Against its
 * other concurrency keys (`slotted`: the keys some task holds as other than its first) it counts
 * by a slot (`flow_slots`), live only while its task is RUNNING at the slot's lease_epoch. So
 * whatever ends a task (completion, failure, sleep, reclaim after a kill -9, cancellation), it
 * stops counting the moment it stops RUNNING. Dead slots of `slotted` are pruned here.
 *
 * The statements run after the one that locked the keys, so they see every start the keys'
 * previous holders committed. (PostgreSQL does the same inside swarm_lock_flow_keys, migration
 * 0042, in the round trip that takes the locks.)
 */
export async function runningCounts(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  keys: readonly string[],
  slotted: readonly string[],
): Promise<Map<string, number>> {
  const running = new Map<string, number>();
  const add = (key: string, n: number | string) => running.set(key, (running.get(key) ?? 0) + Number(n));
  // A scalar subquery, looked up by primary key for each slot of the keys.
  const isDead = sql<boolean>`(
    SELECT t.status = 'RUNNING' AND t.lease_epoch = flow_slots.lease_epoch
    FROM tasks t WHERE t.id = flow_slots.task_id) IS NOT TRUE`;
  for (const chunk of chunksFor(dialect, slotted, 1)) {
    await trx.deleteFrom('flow_slots').where('key', 'in', chunk).where(isDead).execute();
    const slots = await trx
      .selectFrom('flow_slots')
      .select(['key', (eb) => eb.fn.countAll<number | string>().as('n')])
      .where('key', 'in', chunk)
      .groupBy('key')
      .execute();
    for (const row of slots) add(row.key, row.n);
  }
  for (const chunk of chunksFor(dialect, keys, 1))
    for (const [key, n] of await runningUnderFirstKey(trx, chunk)) add(key, n);
  return running;
}

/** The RUNNING tasks whose first key is one of `keys` (idx_tasks_flow_running), per key. */
async function runningUnderFirstKey(
  db: Kysely<SwarmDatabase>,
  keys: readonly string[],
): Promise<Map<string, number>> {
  if (keys.length === 0) return new Map();
  const rows = await db
    .selectFrom('tasks')
    .select(['concurrency_key', (eb) => eb.fn.countAll<number | string>().as('n')])
    .where('status', '=', 'RUNNING')
    .where('concurrency_key', 'in', keys)
    .groupBy('concurrency_key')
    .execute();
  return new Map(rows.map((row) => [row.concurrency_key!, Number(row.n)]));
}

/** The claim's start of a keyed task: as any claim's, and no longer parked. */
function startedSet(at: { readonly now: string; readonly lockedUntil: string; readonly workerId: string }) {
  return { ...startedColumns(at), parked_key: null };
}

/**
 * Starts the accepted tasks: RUNNING under a new lease, a slot per concurrency key other than
 * its first (see runningCounts), a start per rate key. The caller holds the tasks' rows (or
 * SQLite's one write lock) and their keys' rows. PostgreSQL writes all three in one statement;
 * the slots and starts join the started rows, so only a task that did start holds any.
 */
export async function startTasks(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  at: { readonly now: string; readonly lockedUntil: string; readonly workerId: string },
  accepted: readonly Head[],
  keys: StartedKeys,
): Promise<Candidate[]> {
  const returning = CANDIDATE_COLUMNS;
  if (dialect.capabilities.writingCtes) {
    const slots = accepted.flatMap((task) =>
      keys.slotKeys(task).map((key) => ({ id: newId(), key, task_id: task.id })),
    );
    const starts = accepted.flatMap((task) =>
      keys.rateKeys(task).map((key) => ({ id: newId(), key, task_id: task.id })),
    );
    const started = (qb: Kysely<SwarmDatabase>) =>
      qb
        .updateTable('tasks')
        .set(startedSet(at))
        .where('id', '=', sql<string>`ANY(${accepted.map((task) => task.id)}::text[])`)
        .where('status', '=', 'PENDING')
        .returning(returning);
    // Tasks under one concurrency key each (the common case) write nothing but their start.
    if (slots.length === 0 && starts.length === 0) return (await started(trx).execute()) as Candidate[];
    const joinStarted = (rows: typeof slots): RawBuilder<unknown> => {
      const select = dialect.rowsAsSelect(KEY_ROW, rows);
      return sql`(${select}) AS v(id, key, task_id) JOIN started ON started.id = v.task_id`;
    };
    return (await trx
      .with('started', (qb) => started(qb as unknown as Kysely<SwarmDatabase>))
      .with('slots', (qb) =>
        qb
          .insertInto('flow_slots')
          .columns(['id', 'key', 'task_id', 'lease_epoch'])
          .expression(sql`SELECT v.id, v.key, v.task_id, started.lease_epoch FROM ${joinStarted(slots)}`)
          .onConflict((oc) =>
            oc
              .columns(['key', 'task_id'])
              .doUpdateSet((eb) => ({ lease_epoch: eb.ref('excluded.lease_epoch') })),
          ),
      )
      .with('starts', (qb) =>
        qb
          .insertInto('flow_starts')
          .columns(['id', 'key', 'started_at'])
          .expression(sql`SELECT v.id, v.key, ${at.now}::timestamptz FROM ${joinStarted(starts)}`),
      )
      .selectFrom('started')
      .selectAll()
      .execute()) as Candidate[];
  }
  const claimed: Candidate[] = [];
  for (const chunk of chunksFor(
    dialect,
    accepted.map((task) => task.id),
    1,
  )) {
    const rows = await trx
      .updateTable('tasks')
      .set(startedSet(at))
      .where('id', 'in', chunk)
      .where('status', '=', 'PENDING')
      .returning(returning)
      .execute();
    claimed.push(...rows);
  }
  const slots = claimed.flatMap((task) =>
    keys.slotKeys(task).map((key) => ({ id: newId(), key, task_id: task.id, lease_epoch: task.lease_epoch })),
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
    keys.rateKeys(task).map((key) => ({ id: newId(), key, started_at: at.now })),
  );
  for (const chunk of chunksFor(dialect, starts, 3))
    await trx.insertInto('flow_starts').values(chunk).execute();
  return claimed;
}

const KEY_ROW = [
  { name: 'id', type: 'text' },
  { name: 'key', type: 'text' },
  { name: 'task_id', type: 'text' },
] as const;

/** The slots whose task still holds them: RUNNING at the slot's lease epoch. */
export function liveSlots(db: Kysely<SwarmDatabase>) {
  return db
    .selectFrom('flow_slots as s')
    .innerJoin('tasks as t', (join) =>
      join
        .onRef('t.id', '=', 's.task_id')
        .onRef('t.lease_epoch', '=', 's.lease_epoch')
        .on('t.status', '=', 'RUNNING'),
    );
}
