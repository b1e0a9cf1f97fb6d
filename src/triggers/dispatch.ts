import { loadJson } from '../blobs/index.js';
import { sql, type Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Engine, PreparedRun } from '../engine/index.js';
import {
  fromDbJson,
  toDbBool,
  toDbTimestamp,
  type DialectAdapter,
  type Store,
  type SwarmDatabase,
} from '../storage/index.js';
import { firingError, prepareFiring, recordFiring, type Refusal } from './fire.js';
import { planFlow } from './flow.js';
import type { TriggerRow } from './types.js';
import { EventWaits } from './waits.js';
import { instruments, secondsSince } from '../metrics/index.js';

/** Metrics (src/metrics): how long events waited between publication and dispatch. */
function observeLag(events: readonly { readonly createdAt: string }[]): void {
  const now = Date.now();
  for (const event of events) {
    const lag = secondsSince(event.createdAt, now);
    if (lag !== null) instruments.eventDispatchLag.observe(lag);
  }
}

/** An event as subscribers see it, once, in the transaction that dispatches it. */
export interface DispatchedEvent {
  readonly id: string;
  readonly ownerId: string;
  readonly source: string;
  readonly type: string;
  readonly payload: unknown;
  /** The run that caused it (emitted it, or that it is about); null when no run did. */
  readonly runId: string | null;
  /** Its place in the causation chain: 0 when no run caused it, else one past its run's depth. */
  readonly depth: number;
  readonly createdAt: string;
}

/** Something else that hears of events (outgoing webhooks), in the dispatch transaction. */
export interface EventSubscriber {
  /** Which of these events it wants: the others need no transaction of their own for it. */
  wants(db: Kysely<SwarmDatabase>, events: readonly DispatchedEvent[]): Promise<ReadonlySet<string>>;
  /** Takes one wanted event, in the transaction that marks it dispatched. */
  take(trx: Kysely<SwarmDatabase>, dialect: DialectAdapter, event: DispatchedEvent): Promise<unknown>;
}

/** After this many failed dispatch attempts an event is marked `failed` and left for a person. */
export const MAX_DISPATCH_ATTEMPTS = 5;

/** Events this deep in their causation chain start no run (`SWARM_MAX_EVENT_DEPTH`). */
export const DEFAULT_MAX_EVENT_DEPTH = 8;

export interface DispatcherOptions {
  /** @default DEFAULT_MAX_EVENT_DEPTH */
  readonly maxEventDepth?: number;
}

export interface DispatchReport {
  readonly dispatched: number;
  readonly runsStarted: number;
}

/**
 * Moves pending events to the workflows whose event trigger matches them (same owner; source and
 * type equal, or `*`) and to the other subscribers. One transaction per event: the event is
 * locked (others skip it), each matching trigger fires under the key `event:<id>` (a repeat
 * starts nothing), subscribers run, and the event is marked dispatched — all or nothing, so an
 * event published before a crash is dispatched after it, once.
 *
 * The loop guard: a trigger is refused (a `refused` firing, no run) for an event at depth
 * `maxEventDepth` or deeper, and for an event a run of its own workflow caused unless the
 * trigger says `allow_self`. Every chain of event-started runs therefore ends.
 */
export class EventDispatcher {
  private readonly maxEventDepth: number;
  /** The `wait_for` steps waiting for events (waits.ts): settled in the dispatch transaction. */
  private readonly waits: EventWaits;

  constructor(
    private readonly store: Store,
    private readonly engine: Engine,
    private readonly subscribers: readonly EventSubscriber[] = [],
    private readonly logger?: Logger,
    options: DispatcherOptions = {},
  ) {
    this.maxEventDepth = options.maxEventDepth ?? DEFAULT_MAX_EVENT_DEPTH;
    this.waits = new EventWaits(store.handle, logger);
  }

  async dispatchPending(limit = 100): Promise<DispatchReport> {
    const { db } = this.store.handle;
    // New waits first (their lookback), then live matching of the pending events: see waits.ts
    // for why no event falls between the two.
    await this.waits.backfill().catch((error: unknown) => {
      this.logger?.error({ err: error }, 'checking new waits against past events failed; next pass retries');
    });
    const rows = await db
      .selectFrom('events')
      .selectAll()
      .where('status', '=', 'pending')
      .orderBy('created_at')
      .orderBy('id')
      .limit(limit)
      .execute();
    if (rows.length === 0) return { dispatched: 0, runsStarted: 0 };
    // A large payload is a blob: triggers, waits and subscribers get the value itself.
    const payloads = await Promise.all(rows.map((row) => loadJson(db, row.payload)));
    const events: DispatchedEvent[] = rows.map((row, i) => ({
      id: row.id,
      ownerId: row.owner_id,
      source: row.source,
      type: row.type,
      payload: payloads[i] ?? null,
      runId: row.run_id,
      depth: Number(row.depth),
      createdAt: row.created_at,
    }));
    // Most events (every run's end) start nothing and go nowhere: they are marked in one statement.
    const triggers = await this.eventTriggers(events);
    const wanted = await Promise.all(this.subscribers.map((s) => s.wants(db, events)));
    const waits = await this.waits.matchBatch(events.map(waitedEvent));
    const matching = (event: DispatchedEvent) => triggers.filter((t) => matches(t, event));
    const idle = events.filter(
      (e) => matching(e).length === 0 && wanted.every((w) => !w.has(e.id)) && !waits.has(e.id),
    );
    let dispatched = 0;
    let runsStarted = 0;
    if (idle.length > 0) {
      const result = await db
        .updateTable('events')
        .set({ status: 'dispatched', dispatched_at: toDbTimestamp(new Date()) })
        .where(
          'id',
          'in',
          idle.map((e) => e.id),
        )
        .where('status', '=', 'pending')
        .executeTakeFirst();
      dispatched += Number(result.numUpdatedRows);
      observeLag(idle);
    }
    const causes = await this.causingWorkflows(events.filter((e) => matching(e).length > 0));
    for (const event of events) {
      if (idle.includes(event)) continue;
      const subscribers = this.subscribers.filter((_, i) => wanted[i]!.has(event.id));
      try {
        const cause = event.runId === null ? null : (causes.get(event.runId) ?? null);
        const started = await this.dispatchOne(
          event,
          matching(event),
          subscribers,
          cause,
          waits.get(event.id),
        );
        if (started !== null) {
          observeLag([event]);
          dispatched++;
          runsStarted += started;
        }
      } catch (error) {
        await this.recordFailure(event, error);
      }
    }
    return { dispatched, runsStarted };
  }

  /** The enabled event triggers of the events' owners. */
  private async eventTriggers(events: readonly DispatchedEvent[]): Promise<TriggerRow[]> {
    return this.store.handle.db
      .selectFrom('triggers')
      .selectAll()
      .where('type', '=', 'event')
      .where('workflow_name', 'is not', null)
      .where('enabled', '=', toDbBool(true))
      .where('owner_id', 'in', [...new Set(events.map((e) => e.ownerId))])
      .execute();
  }

  /** The workflow of each run that caused one of these events, in one query. */
  private async causingWorkflows(events: readonly DispatchedEvent[]): Promise<Map<string, string>> {
    const runIds = [...new Set(events.flatMap((e) => (e.runId === null ? [] : [e.runId])))];
    if (runIds.length === 0) return new Map();
    const rows = await this.store.handle.db
      .selectFrom('workflow_runs')
      .select(['id', 'workflow_name'])
      .where('id', 'in', runIds)
      .execute();
    return new Map(rows.flatMap((r) => (r.workflow_name === null ? [] : [[r.id, r.workflow_name] as const])));
  }

  /** Why `trigger` must not start a run for `event` (caused by a run of `cause`), or null. */
  private refusal(trigger: TriggerRow, event: DispatchedEvent, cause: string | null): Refusal | null {
    if (cause !== null && cause === trigger.workflow_name && !allowsSelf(trigger)) {
      return {
        reason: 'self-triggered',
        message: `event ${event.source}/${event.type} was caused by run ${event.runId} of ${cause} itself; a workflow is not started by its own events unless its trigger sets allow_self: true`,
      };
    }
    if (event.depth >= this.maxEventDepth) {
      return {
        reason: 'depth-limit',
        message: `event ${event.source}/${event.type} is at depth ${event.depth} of its causation chain (caused by run ${event.runId}); SWARM_MAX_EVENT_DEPTH is ${this.maxEventDepth}`,
      };
    }
    return null;
  }

  /** Runs started for the event, or null when another dispatcher had it. */
  private async dispatchOne(
    event: DispatchedEvent,
    triggers: readonly TriggerRow[],
    subscribers: readonly EventSubscriber[],
    cause: string | null,
    waitpoints: readonly string[] = [],
  ): Promise<number | null> {
    const { db, dialect } = this.store.handle;
    const triggerData = {
      id: event.id,
      source: event.source,
      type: event.type,
      payload: event.payload,
      run_id: event.runId,
      depth: event.depth,
      created_at: event.createdAt,
    };
    // Reading and pinning happen before the transaction, which then only writes.
    const prepared = new Map<string, Parameters<typeof recordFiring>[4]>();
    for (const trigger of triggers) {
      const refused = this.refusal(trigger, event, cause);
      if (refused !== null) {
        prepared.set(trigger.id, { refused });
        continue;
      }
      try {
        // A debounced trigger starts its run later (flow.ts), from the last event of its key.
        const flow = await planFlow(trigger, triggerData, event.depth);
        if (flow !== null && 'debounce' in flow) {
          prepared.set(trigger.id, { debounce: flow.debounce });
          continue;
        }
        const run: PreparedRun = await prepareFiring(
          this.store,
          this.engine,
          trigger,
          triggerData,
          event.depth,
        );
        prepared.set(trigger.id, flow === null ? { run } : { run, throttle: flow.throttle });
      } catch (error) {
        prepared.set(trigger.id, { failed: firingError(error) });
      }
    }
    return dialect.writeTransaction(db, async (trx) => {
      let query = trx
        .selectFrom('events')
        .select('id')
        .where('id', '=', event.id)
        .where('status', '=', 'pending');
      if (dialect.capabilities.skipLocked) query = query.forUpdate().skipLocked();
      if ((await query.executeTakeFirst()) === undefined) return null;
      let started = 0;
      for (const trigger of triggers) {
        const what = prepared.get(trigger.id)!;
        const outcome = await recordFiring(trx, this.engine, trigger, `event:${event.id}`, what);
        if (outcome.duplicate) continue;
        if (outcome.status === 'started') started++;
        else if (outcome.status === 'failed')
          this.logger?.warn(
            { event: event.id, trigger: trigger.id },
            `event ${event.type} did not start ${trigger.workflow_name}`,
          );
        else if ('refused' in what)
          this.logger?.warn(
            {
              event: event.id,
              trigger: trigger.id,
              depth: event.depth,
              causationRun: event.runId,
              reason: what.refused.reason,
            },
            `event loop guard: ${trigger.workflow_name} not started (${what.refused.reason}): ${what.refused.message}`,
          );
      }
      for (const subscriber of subscribers) await subscriber.take(trx, dialect, event);
      // Already settled (by the backfill, another dispatcher): a no-op, by its conditional update.
      for (const id of waitpoints) await this.waits.settle(trx, event.ownerId, id, waitedEvent(event));
      await trx
        .updateTable('events')
        .set({ status: 'dispatched', dispatched_at: toDbTimestamp(new Date()) })
        .where('id', '=', event.id)
        .execute();
      return started;
    });
  }

  private async recordFailure(event: DispatchedEvent, error: unknown): Promise<void> {
    this.logger?.error({ err: error, event: event.id }, 'dispatching an event failed; it will be retried');
    await this.store.handle.db
      .updateTable('events')
      .set((eb) => ({
        attempts: eb('attempts', '+', 1),
        last_error: firingError(error).slice(0, 2000),
        status: sql<
          'failed' | 'pending'
        >`CASE WHEN attempts >= ${MAX_DISPATCH_ATTEMPTS - 1} THEN 'failed' ELSE 'pending' END`,
      }))
      .where('id', '=', event.id)
      .where('status', '=', 'pending')
      .execute();
  }
}

/** The trigger's `allow_self`, from the definition it was synced from. */
function allowsSelf(trigger: TriggerRow): boolean {
  let config: unknown;
  try {
    config = fromDbJson(trigger.config);
  } catch {
    return false; // Not written by a sync (a legacy import): no opt-in.
  }
  return (
    typeof config === 'object' && config !== null && (config as { allow_self?: unknown }).allow_self === true
  );
}

/** A trigger's source and type each equal the event's, or are `*`. */
function matches(trigger: TriggerRow, event: DispatchedEvent): boolean {
  return (
    trigger.owner_id === event.ownerId &&
    (trigger.event_source === event.source || trigger.event_source === '*') &&
    (trigger.event_type === event.type || trigger.event_type === '*')
  );
}

/** The event as a waiting step sees it (and its owner, to match by). */
function waitedEvent(event: DispatchedEvent) {
  return {
    id: event.id,
    ownerId: event.ownerId,
    type: event.type,
    source: event.source,
    payload: event.payload,
    created_at: event.createdAt,
  };
}
