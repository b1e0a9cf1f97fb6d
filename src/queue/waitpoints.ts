/**
 * Waitpoints (migration 0022): what a waiting task waits for. The task itself is PENDING with
 * `run_at` at the waitpoint's timeout (NEVER when it has none): it holds no lease and no worker
 * slot. `sleepTask` writes the waitpoint in the transaction that puts the task to sleep;
 * `resolveWaitpoint` settles it once and makes the task claimable at once; the attempt that
 * resumes the task reads the outcome back with `waitpointOf`. A result over
 * SWARM_PAYLOAD_INLINE_MAX (an event's large payload) is a blob the row references
 * (docs/payloads.md); every reader gets it whole.
 */
import type { Kysely, Selectable } from 'kysely';
import { blobSettings, inlineJson, loadJson, storeJson } from '../blobs/index.js';
import {
  fromDbJson,
  newId,
  toDbJson,
  toDbTimestamp,
  type DatabaseHandle,
  type SwarmDatabase,
  type WaitpointsTable,
} from '../storage/index.js';
import { TASKS_CHANNEL } from './announce.js';

/** A waitpoint without a timeout: its task's `run_at` (far enough that no claim reaches it). */
export const NEVER = new Date('9999-01-01T00:00:00.000Z');

export type WaitpointKind = WaitpointsTable['kind'];
export type WaitpointStatus = Selectable<WaitpointsTable>['status'];
export type WaitpointTimeoutAction = Selectable<WaitpointsTable>['on_timeout'];

/** What a runtime asks to wait for (with its `Sleep`). */
export interface WaitpointRequest {
  /** Its name within the task (`approval`, `wait_for`…): asking again with the same key finds it. */
  readonly key: string;
  readonly kind: WaitpointKind;
  /** JSON: what is awaited, as the kind needs it. */
  readonly spec: unknown;
  readonly eventType?: string;
  readonly eventSource?: string;
  /** Events published from this moment count (the lookback). */
  readonly eventsSince?: Date;
  /** Absent: it waits until resolved or its run is cancelled. */
  readonly timeoutAt?: Date;
  readonly onTimeout?: WaitpointTimeoutAction;
}

/** Where the waitpoint belongs (the sleeping task's). */
export interface WaitpointOwner {
  readonly ownerId: string;
  readonly runId: string | null;
  readonly taskId: string;
  readonly stepId: string | null;
}

/** A waitpoint as the queue reads it back. */
export interface Waitpoint {
  readonly id: string;
  readonly ownerId: string;
  readonly runId: string | null;
  readonly taskId: string;
  readonly stepId: string | null;
  readonly key: string;
  readonly kind: WaitpointKind;
  readonly status: WaitpointStatus;
  readonly spec: unknown;
  readonly eventType: string | null;
  readonly eventSource: string | null;
  readonly eventsSince: string | null;
  readonly matchedThrough: string | null;
  readonly timeoutAt: string | null;
  readonly onTimeout: WaitpointTimeoutAction;
  readonly result: unknown;
  readonly resolvedBy: string | null;
  readonly resolvedAt: string | null;
  readonly createdAt: string;
}

/**
 * Inserts the waitpoint unless the task already has one under that key (an attempt run again
 * after a crash), inside the caller's transaction. Returns whether the waitpoint is already
 * settled, in which case the task must not sleep until its timeout but wake at once.
 */
export async function createWaitpoint(
  trx: Kysely<SwarmDatabase>,
  owner: WaitpointOwner,
  request: WaitpointRequest,
  at: string,
): Promise<{ id: string; settled: boolean }> {
  await trx
    .insertInto('waitpoints')
    .values({
      id: newId(),
      owner_id: owner.ownerId,
      run_id: owner.runId,
      task_id: owner.taskId,
      step_id: owner.stepId,
      key: request.key,
      kind: request.kind,
      spec: toDbJson(request.spec ?? {}, 'spec'),
      event_type: request.eventType ?? null,
      event_source: request.eventSource ?? null,
      events_since: request.eventsSince === undefined ? null : toDbTimestamp(request.eventsSince),
      timeout_at: request.timeoutAt === undefined ? null : toDbTimestamp(request.timeoutAt),
      on_timeout: request.onTimeout ?? 'fail',
      created_at: at,
      updated_at: at,
    })
    .onConflict((oc) => oc.columns(['task_id', 'key']).doNothing())
    .execute();
  const row = await trx
    .selectFrom('waitpoints')
    .select(['id', 'status'])
    .where('task_id', '=', owner.taskId)
    .where('key', '=', request.key)
    .executeTakeFirstOrThrow();
  return { id: row.id, settled: row.status !== 'waiting' };
}

export interface Resolution {
  readonly id: string;
  /** Only this owner's waitpoint is touched (every caller knows whose it acts for). */
  readonly ownerId: string;
  readonly status: Exclude<WaitpointStatus, 'waiting'>;
  readonly result: unknown;
  /** A user id, `event:<id>`, `timeout` or `system`. */
  readonly resolvedBy: string;
}

/**
 * Settles a waiting waitpoint and makes its task claimable now, in one transaction: the update
 * is conditional on `status = 'waiting'`, so of any number of racing callers (two servers, a
 * decision against a timeout) exactly one gets the row back; the others get null. Pass `trx` to
 * do it inside a transaction of the caller's (an event dispatch, an audit row).
 */
export async function resolveWaitpoint(
  handle: DatabaseHandle,
  resolution: Resolution,
  now: Date = new Date(),
  trx?: Kysely<SwarmDatabase>,
): Promise<Waitpoint | null> {
  const { db, dialect } = handle;
  const at = toDbTimestamp(now);
  const value = resolution.result ?? null;
  const text = toDbJson(value, 'result');
  // A large result is stored (and referenced) only once this resolution has won the row: one
  // that loses must not leave a reference behind on a row that does not hold its blob.
  const large = Buffer.byteLength(text, 'utf8') > blobSettings().inlineMax;
  const work = async (tx: Kysely<SwarmDatabase>): Promise<Waitpoint | null> => {
    const result = await tx
      .updateTable('waitpoints')
      .set({
        status: resolution.status,
        ...(large ? {} : { result: inlineJson(value, text, 'result') }),
        resolved_by: resolution.resolvedBy,
        resolved_at: at,
        updated_at: at,
      })
      .where('id', '=', resolution.id)
      .where('owner_id', '=', resolution.ownerId)
      .where('status', '=', 'waiting')
      .executeTakeFirst();
    if (result.numUpdatedRows === 0n) return null;
    if (large) {
      const owner = { ownerId: resolution.ownerId, source: 'waitpoints', sourceId: resolution.id } as const;
      await tx
        .updateTable('waitpoints')
        .set({ result: await storeJson({ db: tx, dialect }, value, owner, 'result', text) })
        .where('id', '=', resolution.id)
        .execute();
    }
    const row = await tx
      .selectFrom('waitpoints')
      .selectAll()
      .where('id', '=', resolution.id)
      .executeTakeFirstOrThrow();
    const woken = await tx
      .updateTable('tasks')
      .set({ run_at: at, updated_at: at })
      .where('id', '=', row.task_id)
      .where('status', '=', 'PENDING')
      .executeTakeFirst();
    if (woken.numUpdatedRows > 0n) await dialect.notify(tx as unknown as Kysely<unknown>, TASKS_CHANNEL);
    // The result as given: a large one is not read back from the blob just written.
    return fromRow(row, value);
  };
  return trx === undefined ? dialect.writeTransaction(db, work) : work(trx);
}

/** The task's waitpoint under `key`, or null when it has none (yet). */
export async function waitpointOf(
  handle: DatabaseHandle,
  taskId: string,
  key: string,
): Promise<Waitpoint | null> {
  const row = await handle.db
    .selectFrom('waitpoints')
    .selectAll()
    .where('task_id', '=', taskId)
    .where('key', '=', key)
    .executeTakeFirst();
  return row === undefined ? null : waitpointFromRow(handle.db, row);
}

/**
 * The waiting waitpoints of tasks that ended without them (a cancelled run, a task cancelled by
 * hand) are cancelled, in the caller's transaction, so no inbox offers a decision nobody awaits.
 */
export async function cancelWaitpointsOf(
  trx: Kysely<SwarmDatabase>,
  taskIds: readonly string[],
  at: string,
): Promise<number> {
  if (taskIds.length === 0) return 0;
  const result = await trx
    .updateTable('waitpoints')
    .set({ status: 'cancelled', resolved_by: 'system', resolved_at: at, updated_at: at })
    .where('task_id', 'in', [...taskIds])
    .where('status', '=', 'waiting')
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** A waitpoint as read from its row, with its result whole. */
export async function waitpointFromRow(
  db: Kysely<SwarmDatabase>,
  row: Selectable<WaitpointsTable>,
): Promise<Waitpoint> {
  return fromRow(row, await loadJson(db, row.result));
}

function fromRow(row: Selectable<WaitpointsTable>, result: unknown): Waitpoint {
  return {
    id: row.id,
    ownerId: row.owner_id,
    runId: row.run_id,
    taskId: row.task_id,
    stepId: row.step_id,
    key: row.key,
    kind: row.kind,
    status: row.status,
    spec: fromDbJson(row.spec) ?? {},
    eventType: row.event_type,
    eventSource: row.event_source,
    eventsSince: row.events_since,
    matchedThrough: row.matched_through,
    timeoutAt: row.timeout_at,
    onTimeout: row.on_timeout,
    result: result ?? null,
    resolvedBy: row.resolved_by,
    resolvedAt: row.resolved_at,
    createdAt: row.created_at,
  };
}
