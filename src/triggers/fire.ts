import type { Kysely } from 'kysely';
import type { Engine, PreparedRun } from '../engine/index.js';
import { SwarmError } from '../errors/index.js';
import { Registry } from '../registry/index.js';
import { newId, toDbTimestamp, type Caller, type Store, type SwarmDatabase } from '../storage/index.js';
import type { TriggerRow } from './types.js';
import { debounce, throttled, type DebouncePlan, type ThrottlePlan } from './flow.js';

/** The owner a trigger acts for: runs it starts belong to the workflow's owner. */
export function ownerOf(trigger: Pick<TriggerRow, 'owner_id'>): Caller {
  // The role only matters to admin-only operations, which firing never performs.
  return { userId: trigger.owner_id, role: 'member' };
}

export type TriggerKind = 'webhook' | 'schedule' | 'event';

/**
 * Resolves the latest version of the trigger's workflow and pins its agents, outside any
 * transaction. Throws what startRun would (a disabled workflow, an agent gone).
 */
export async function prepareFiring(
  store: Store,
  engine: Engine,
  trigger: TriggerRow,
  triggerData: unknown,
  /** The depth of the event that fires an event trigger; 0 for webhooks and schedules. */
  eventDepth = 0,
): Promise<PreparedRun> {
  const caller = ownerOf(trigger);
  const { agents, workflows } = new Registry(store).as(caller);
  const workflow = await workflows.get(trigger.workflow_name ?? '');
  return engine.prepareRun(caller, workflow, agents, {
    input: triggerData,
    triggerData,
    triggerType: trigger.type as TriggerKind,
    triggerId: trigger.id,
    startedBy: null,
    eventDepth,
  });
}

/**
 * The same prepared run again under a new id, with other trigger data (one per schedule tick):
 * its first steps are worked out anew for that data, so this throws as prepareFiring does.
 */
export function again(engine: Engine, prepared: PreparedRun, triggerData: unknown): Promise<PreparedRun> {
  return engine.again(prepared, triggerData);
}

/** Why the event loop guard refused a firing: a machine-readable reason and a message. */
export interface Refusal {
  readonly reason: 'depth-limit' | 'self-triggered' | 'throttled';
  readonly message: string;
}

export interface FiringOutcome {
  /** The run this key started: now, or the first time the key was seen. */
  readonly runId: string | null;
  /** True when the key had fired before: nothing new was started. */
  readonly duplicate: boolean;
  readonly status: 'started' | 'skipped' | 'failed' | 'refused';
}

/**
 * Records one firing of `trigger` under `fireKey` in the caller's transaction and, when the key
 * is new and a run was prepared, starts the run in that same transaction. The unique
 * (trigger_id, fire_key) makes firing exactly-once: a repeat (a resent webhook, a tick another
 * scheduler claimed, an event dispatched twice) finds the first firing and starts nothing.
 */
export async function recordFiring(
  trx: Kysely<SwarmDatabase>,
  engine: Engine,
  trigger: TriggerRow,
  fireKey: string,
  given:
    | { run: PreparedRun; throttle?: ThrottlePlan }
    | { debounce: DebouncePlan }
    | { skipped: string }
    | { failed: string }
    | { refused: Refusal },
  scheduledFor: Date | null = null,
): Promise<FiringOutcome> {
  // Flow control (flow.ts): a throttle over its limit refuses the run; a debounce stores the
  // firing for later and records this one as skipped.
  let what = given;
  let flowKey: string | null = null;
  if ('run' in what && what.throttle !== undefined) {
    flowKey = what.throttle.key;
    const why = await throttled(trx, engine.dialect, trigger, what.throttle);
    if (why !== null) what = { refused: { reason: 'throttled', message: why } };
  }
  const debounced = 'debounce' in what ? what.debounce : null;
  if (debounced !== null) {
    flowKey = debounced.key;
    what = {
      skipped: `debounced (key "${debounced.key}"): starts a run ${debounced.period} after the last firing of the key`,
    };
  }
  const status =
    'run' in what ? 'started' : 'skipped' in what ? 'skipped' : 'refused' in what ? 'refused' : 'failed';
  const firingId = newId();
  const inserted = await trx
    .insertInto('trigger_firings')
    .values({
      id: firingId,
      owner_id: trigger.owner_id,
      trigger_id: trigger.id,
      fire_key: fireKey,
      run_id: 'run' in what ? what.run.id : null,
      status,
      error:
        'skipped' in what
          ? what.skipped
          : 'failed' in what
            ? what.failed.slice(0, 2000)
            : 'refused' in what
              ? what.refused.message.slice(0, 2000)
              : null,
      reason: 'refused' in what ? what.refused.reason : null,
      scheduled_for: scheduledFor === null ? null : toDbTimestamp(scheduledFor),
      flow_key: flowKey,
    })
    .onConflict((oc) => oc.columns(['trigger_id', 'fire_key']).doNothing())
    .executeTakeFirst();
  if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 0) {
    const first = await trx
      .selectFrom('trigger_firings')
      .select(['run_id', 'status'])
      .where('trigger_id', '=', trigger.id)
      .where('fire_key', '=', fireKey)
      .executeTakeFirstOrThrow();
    return { runId: first.run_id, duplicate: true, status: first.status };
  }
  if (debounced !== null) await debounce(trx, engine.dialect, trigger, debounced);
  if ('run' in what) await engine.insertRun(trx, what.run);
  return { runId: 'run' in what ? what.run.id : null, duplicate: false, status };
}

/** A firing's error for the record: a SwarmError's message, or the error's. */
export function firingError(error: unknown): string {
  return error instanceof SwarmError || error instanceof Error ? error.message : String(error);
}
