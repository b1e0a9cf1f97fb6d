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
import { firingError, prepareFiring, recordFiring } from './fire.js';
import type { TriggerRow } from './types.js';

/** An event as subscribers see it, once, in the transaction that dispatches it. */
export interface DispatchedEvent {
  readonly id: string;
  readonly ownerId: string;
  readonly source: string;
  readonly type: string;
  readonly payload: unknown;
  readonly runId: string | null;
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
 */
export class EventDispatcher {
  constructor(
    private readonly store: Store,
    private readonly engine: Engine,
    private readonly subscribers: readonly EventSubscriber[] = [],
    private readonly logger?: Logger,
  ) {}

  async dispatchPending(limit = 100): Promise<DispatchReport> {
    const { db } = this.store.handle;
    const rows = await db
      .selectFrom('events')
      .selectAll()
      .where('status', '=', 'pending')
      .orderBy('created_at')
      .orderBy('id')
      .limit(limit)
      .execute();
    if (rows.length === 0) return { dispatched: 0, runsStarted: 0 };
    const events: DispatchedEvent[] = rows.map((row) => ({
      id: row.id,
      ownerId: row.owner_id,
      source: row.source,
      type: row.type,
      payload: fromDbJson(row.payload),
      runId: row.run_id,
      createdAt: row.created_at,
    }));
    // Most events (every run's end) start nothing and go nowhere: they are marked in one statement.
    const triggers = await this.eventTriggers(events);
    const wanted = await Promise.all(this.subscribers.map((s) => s.wants(db, events)));
    const matching = (event: DispatchedEvent) => triggers.filter((t) => matches(t, event));
    const idle = events.filter((e) => matching(e).length === 0 && wanted.every((w) => !w.has(e.id)));
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
    }
    for (const event of events) {
      if (idle.includes(event)) continue;
      const subscribers = this.subscribers.filter((_, i) => wanted[i]!.has(event.id));
      try {
        const started = await this.dispatchOne(event, matching(event), subscribers);
        if (started !== null) {
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

  /** Runs started for the event, or null when another dispatcher had it. */
  private async dispatchOne(
    event: DispatchedEvent,
    triggers: readonly TriggerRow[],
    subscribers: readonly EventSubscriber[],
  ): Promise<number | null> {
    const { db, dialect } = this.store.handle;
    const triggerData = {
      id: event.id,
      source: event.source,
      type: event.type,
      payload: event.payload,
      run_id: event.runId,
      created_at: event.createdAt,
    };
    // Reading and pinning happen before the transaction, which then only writes.
    const prepared = new Map<string, PreparedRun | { failed: string }>();
    for (const trigger of triggers) {
      try {
        prepared.set(trigger.id, await prepareFiring(this.store, this.engine, trigger, triggerData));
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
        const outcome = await recordFiring(
          trx,
          this.engine,
          trigger,
          `event:${event.id}`,
          'failed' in what ? what : { run: what },
        );
        if (outcome.status === 'started' && !outcome.duplicate) started++;
        else if (outcome.status === 'failed')
          this.logger?.warn(
            { event: event.id, trigger: trigger.id },
            `event ${event.type} did not start ${trigger.workflow_name}`,
          );
      }
      for (const subscriber of subscribers) await subscriber.take(trx, dialect, event);
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

/** A trigger's source and type each equal the event's, or are `*`. */
function matches(trigger: TriggerRow, event: DispatchedEvent): boolean {
  return (
    trigger.owner_id === event.ownerId &&
    (trigger.event_source === event.source || trigger.event_source === '*') &&
    (trigger.event_type === event.type || trigger.event_type === '*')
  );
}
