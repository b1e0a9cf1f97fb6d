import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { DialectAdapter, SwarmDatabase } from '../../storage/index.js';
import { newId } from '../../storage/index.js';
import { chunksFor } from '../batch.js';
import { CLAIM_COLUMNS, startedColumns, type ClaimRow } from '../rows.js';

/** A keyed claim's candidate: the claim columns, its keys and the key it is parked under. */
export type Candidate = ClaimRow & { flow_keys: string | null; parked_key: string | null };

/** What the start of a task gives each of its keys (src/queue/flow/claim.ts). */
export interface StartedKeys {
  /** The keys a task holds a slot of while it runs (concurrency limits). */
  readonly slotKeys: (task: Candidate) => readonly string[];
  /** The keys a task's start counts against (rate limits). */
  readonly rateKeys: (task: Candidate) => readonly string[];
}

/**
 * Self-healing slots: whatever ended a task (completion, failure, sleep, reclaim after a kill -9,
 * cancellation), its slot stops counting the moment it stopped RUNNING at its epoch. Prunes the
 * dead slots of `keys` (whose rows the caller has locked) and returns each key's live ones.
 *
 * PostgreSQL does both in one statement, one scan of the keys' slots: each is judged once, the
 * dead deleted by id and the live counted. It runs after the statement that locked the keys,
 * so its snapshot has every slot the keys' previous holders committed.
 */
export async function liveSlotCounts(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  keys: readonly string[],
): Promise<Map<string, number>> {
  const running = new Map<string, number>();
  if (keys.length === 0) return running;
  // A scalar subquery, looked up by primary key for each slot of the keys: written as NOT
  // EXISTS, PostgreSQL may plan an anti join that reads every RUNNING task (it did, with stale
  // statistics on the churning flow_slots: 25 ms a claim with 20,000 tasks running or dead).
  const isDead = sql<boolean>`(
    SELECT t.status = 'RUNNING' AND t.lease_epoch = flow_slots.lease_epoch
    FROM tasks t WHERE t.id = flow_slots.task_id) IS NOT TRUE`;
  if (dialect.capabilities.writingCtes) {
    const result = await sql<{ key: string; n: number | string }>`
      WITH slot AS MATERIALIZED (
        SELECT id, key, ${isDead} AS dead FROM flow_slots WHERE key = ANY(${keys}::text[])
      ), pruned AS (
        DELETE FROM flow_slots WHERE id = ANY(ARRAY(SELECT id FROM slot WHERE dead))
      )
      SELECT key, count(*) FILTER (WHERE NOT dead) AS n FROM slot GROUP BY key`.execute(trx);
    for (const row of result.rows) running.set(row.key, Number(row.n));
    return running;
  }
  for (const chunk of chunksFor(dialect, keys, 1)) {
    await trx.deleteFrom('flow_slots').where('key', 'in', chunk).where(isDead).execute();
    const counts = await trx
      .selectFrom('flow_slots')
      .select(['key', (eb) => eb.fn.countAll<number | string>().as('n')])
      .where('key', 'in', chunk)
      .groupBy('key')
      .execute();
    for (const row of counts) running.set(row.key, Number(row.n));
  }
  return running;
}

/** The claim's start of a keyed task: as any claim's, and no longer parked. */
function startedSet(at: { readonly now: string; readonly lockedUntil: string; readonly workerId: string }) {
  return { ...startedColumns(at), parked_key: null };
}

/**
 * Starts the accepted tasks: RUNNING under a new lease, a slot per concurrency key, a start per
 * rate key. The caller holds the tasks' rows (or SQLite's one write lock) and their keys' rows.
 * PostgreSQL writes all three in one statement; the slots and starts join the started rows, so
 * only a task that did start holds any.
 */
export async function startTasks(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  at: { readonly now: string; readonly lockedUntil: string; readonly workerId: string },
  accepted: readonly Candidate[],
  keys: StartedKeys,
): Promise<Candidate[]> {
  const returning = [...CLAIM_COLUMNS, 'flow_keys', 'parked_key'] as const;
  if (dialect.capabilities.writingCtes) {
    const slots = accepted.flatMap((task) =>
      keys.slotKeys(task).map((key) => ({ id: newId(), key, task_id: task.id })),
    );
    const starts = accepted.flatMap((task) =>
      keys.rateKeys(task).map((key) => ({ id: newId(), key, task_id: task.id })),
    );
    const joinStarted = (rows: typeof slots): RawBuilder<unknown> => {
      const select = dialect.rowsAsSelect(KEY_ROW, rows);
      return sql`(${select}) AS v(id, key, task_id) JOIN started ON started.id = v.task_id`;
    };
    return (await trx
      .with('started', (qb) =>
        qb
          .updateTable('tasks')
          .set(startedSet(at))
          .where('id', '=', sql<string>`ANY(${accepted.map((task) => task.id)}::text[])`)
          .where('status', '=', 'PENDING')
          .returning(returning),
      )
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
