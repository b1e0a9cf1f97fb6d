import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { addReferences, loadJson, referenceInText, referenceSha, storeJson } from '../blobs/index.js';
import type { Engine } from '../engine/index.js';
import { InputError } from '../errors/index.js';
import { compileExpression, type FiringFlowSpec } from '../registry/index.js';
import {
  fromDbJson,
  newId,
  toDbTimestamp,
  type DialectAdapter,
  type Store,
  type SwarmDatabase,
} from '../storage/index.js';
import { firingError, prepareFiring, recordFiring } from './fire.js';
import type { TriggerRow } from './types.js';

/**
 * A trigger's `debounce` and `throttle` (docs/run-concurrency.md), for event and webhook
 * triggers. Both key their firings by a JSONata expression over the trigger data (no key: one
 * for the whole trigger).
 *
 * - throttle: at most `limit` runs started per key per `period` (a sliding window over the
 *   trigger's started firings); the rest are recorded as `refused` firings, reason `throttled`.
 *   The trigger's row is locked while counting, so several processes never exceed the limit.
 * - debounce: each firing is recorded `skipped` and stored as the key's pending firing (the last
 *   trigger data wins, its due time moved to now + `period`). A sweep (the trigger daemon's)
 *   starts one run per pending firing once it is due, deleting it in the same transaction: a
 *   restart in between still fires it, and of several processes one does. Pending data over
 *   SWARM_PAYLOAD_INLINE_MAX is a blob the row references (docs/payloads.md).
 */

export interface ThrottlePlan {
  readonly key: string;
  readonly limit: number;
  readonly periodMs: number;
  readonly period: string;
}

export interface DebouncePlan {
  readonly key: string;
  readonly periodMs: number;
  readonly period: string;
  readonly triggerData: unknown;
  readonly eventDepth: number;
}

export type FlowPlan = { readonly throttle: ThrottlePlan } | { readonly debounce: DebouncePlan } | null;

interface StoredFlow {
  debounce?: FiringFlowSpec;
  throttle?: FiringFlowSpec & { limit: number };
}

/** The trigger's flow settings, from the definition it was synced from. */
function flowOf(trigger: TriggerRow): StoredFlow {
  try {
    const config = fromDbJson<StoredFlow>(trigger.config);
    return typeof config === 'object' && config !== null ? config : {};
  } catch {
    return {}; // Not written by a sync (a legacy import): no flow control.
  }
}

/** The key of a firing: a string, number or boolean the expression gives ("" without one). */
async function keyOf(spec: FiringFlowSpec, name: string, triggerData: unknown): Promise<string> {
  if (spec.key === undefined) return '';
  const field = `trigger.${name}.key`;
  let value: unknown;
  try {
    value = await compileExpression(spec.key).evaluate(
      (typeof triggerData === 'object' && triggerData !== null
        ? triggerData
        : { value: triggerData }) as Record<string, unknown>,
    );
  } catch (error) {
    throw new InputError(field, `failed to evaluate: ${(error as Error).message}`);
  }
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean')
    throw new InputError(
      field,
      `must evaluate to a string, number or boolean, got ${value === undefined ? 'nothing' : JSON.stringify(value).slice(0, 100)}`,
    );
  return String(value).slice(0, 255);
}

/**
 * What flow control does with one firing of `trigger`, worked out before its transaction.
 * Throws an InputError (`trigger.throttle.key`, `trigger.debounce.key`) when the key fails.
 */
export async function planFlow(trigger: TriggerRow, triggerData: unknown, eventDepth = 0): Promise<FlowPlan> {
  const flow = flowOf(trigger);
  if (flow.debounce !== undefined)
    return {
      debounce: {
        key: await keyOf(flow.debounce, 'debounce', triggerData),
        periodMs: flow.debounce.period_ms,
        period: flow.debounce.period,
        triggerData,
        eventDepth,
      },
    };
  if (flow.throttle !== undefined)
    return {
      throttle: {
        key: await keyOf(flow.throttle, 'throttle', triggerData),
        limit: flow.throttle.limit,
        periodMs: flow.throttle.period_ms,
        period: flow.throttle.period,
      },
    };
  return null;
}

/**
 * Why the throttle drops this firing, or null when it may start a run: counts the runs the
 * trigger started under the key within the period, with the trigger's row locked.
 */
export async function throttled(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  trigger: TriggerRow,
  plan: ThrottlePlan,
): Promise<string | null> {
  if (dialect.capabilities.skipLocked)
    await trx.selectFrom('triggers').select('id').where('id', '=', trigger.id).forUpdate().execute();
  const since = toDbTimestamp(new Date(Date.now() - plan.periodMs));
  const row = await trx
    .selectFrom('trigger_firings')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('trigger_id', '=', trigger.id)
    .where('flow_key', '=', plan.key)
    .where('status', '=', 'started')
    .where('created_at', '>', since)
    .executeTakeFirstOrThrow();
  const started = Number(row.n);
  if (started < plan.limit) return null;
  return `throttled: ${started} run(s) started for key "${plan.key}" in the last ${plan.period} (limit ${plan.limit})`;
}

/** Stores (or moves on) the key's pending firing: the last trigger data, due a period from now. */
export async function debounce(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  trigger: TriggerRow,
  plan: DebouncePlan,
): Promise<string> {
  const now = new Date();
  const fireAt = toDbTimestamp(new Date(now.getTime() + plan.periodMs));
  const id = newId();
  const ownerId = trigger.owner_id;
  const data = await storeJson(
    { db: trx, dialect },
    plan.triggerData,
    { ownerId, source: 'trigger_debounces', sourceId: id },
    'trigger_data',
  );
  const row = await trx
    .insertInto('trigger_debounces')
    .values({
      id,
      owner_id: ownerId,
      trigger_id: trigger.id,
      debounce_key: plan.key,
      trigger_data: data,
      event_depth: plan.eventDepth,
      fire_at: fireAt,
    })
    .onConflict((oc) =>
      oc.columns(['trigger_id', 'debounce_key']).doUpdateSet((eb) => ({
        trigger_data: eb.ref('excluded.trigger_data'),
        event_depth: eb.ref('excluded.event_depth'),
        fire_at: eb.ref('excluded.fire_at'),
        coalesced: eb('trigger_debounces.coalesced', '+', 1),
        updated_at: toDbTimestamp(now),
      })),
    )
    .returning('id')
    .executeTakeFirstOrThrow();
  if (row.id !== id) await moveReferences(trx, ownerId, id, row.id, data);
  return fireAt;
}

/**
 * The key's pending firing was there already and its row kept its own id: the blob of the data
 * now pending is referenced by that row instead of the id it was stored for, and the blobs of
 * the data it replaced no longer are, so a key that coalesces many large firings holds one.
 */
async function moveReferences(
  trx: Kysely<SwarmDatabase>,
  ownerId: string,
  storedFor: string,
  rowId: string,
  data: string,
): Promise<void> {
  const stored = referenceInText(data);
  const sha256 = stored === null ? null : referenceSha(stored);
  const refs = trx.deleteFrom('blob_refs').where('source', '=', 'trigger_debounces');
  if (sha256 === null) {
    await refs.where('source_id', '=', rowId).execute();
    return;
  }
  await refs.where('source_id', '=', storedFor).execute();
  await refs.where('source_id', '=', rowId).where('sha256', '!=', sha256).execute();
  await addReferences(trx, [{ ownerId, source: 'trigger_debounces', sourceId: rowId, sha256 }]);
}

/**
 * Starts a run for each pending debounced firing that is due, each in its own transaction that
 * deletes it (only if no newer firing moved it meanwhile) and records the firing under a key of
 * its own, so it fires once whatever the number of processes. Returns how many runs started.
 */
export async function fireDebounced(
  store: Store,
  engine: Engine,
  logger?: Logger,
  now = new Date(),
  limit = 100,
): Promise<number> {
  const { db, dialect } = store.handle;
  const due = await db
    .selectFrom('trigger_debounces')
    .selectAll()
    .where('fire_at', '<=', toDbTimestamp(now))
    .orderBy('fire_at')
    .limit(limit)
    .execute();
  let started = 0;
  for (const pending of due) {
    const trigger = await db
      .selectFrom('triggers')
      .selectAll()
      .where('id', '=', pending.trigger_id)
      .executeTakeFirst();
    if (trigger === undefined) continue; // Deleted: its pending firings went with it (cascade).
    let what: Parameters<typeof recordFiring>[4];
    if (!trigger.enabled) what = { skipped: 'trigger disabled before its debounced firing was due' };
    else
      try {
        // A blob that cannot be read (BLOB_MISSING) never will be: the firing is recorded failed.
        const data = await loadJson(db, pending.trigger_data);
        what = { run: await prepareFiring(store, engine, trigger, data, Number(pending.event_depth)) };
      } catch (error) {
        what = { failed: firingError(error) };
      }
    try {
      const outcome = await dialect.writeTransaction(db, async (trx) => {
        let query = trx
          .selectFrom('trigger_debounces')
          .select('id')
          .where('id', '=', pending.id)
          .where('coalesced', '=', pending.coalesced);
        if (dialect.capabilities.skipLocked) query = query.forUpdate().skipLocked();
        if ((await query.executeTakeFirst()) === undefined) return null;
        await trx.deleteFrom('trigger_debounces').where('id', '=', pending.id).execute();
        return recordFiring(trx, engine, trigger, `debounce:${pending.id}:${pending.coalesced}`, what);
      });
      if (outcome?.status === 'started' && !outcome.duplicate) started++;
    } catch (error) {
      logger?.error(
        { err: error, trigger: trigger.id },
        'firing a debounced trigger failed; the next pass retries',
      );
    }
  }
  return started;
}
