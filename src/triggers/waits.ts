/**
 * Waiting for events (the `wait_for` step): the event dispatcher settles `event` waitpoints
 * (src/queue/waitpoints.ts) with the first event that matches them. Two paths, both here:
 *
 * - live: each batch of pending events is checked against the waiting event waitpoints of the
 *   same owners and types, read once per batch through the partial index over waiting event
 *   waitpoints (`idx_waitpoints_waiting_event`). A waiting run costs nothing while no event of
 *   its type comes: nothing polls it.
 * - backfill (the lookback): a new waitpoint (`matched_through` still null) is checked once
 *   against the events its owner already published of its type since `events_since` (by default
 *   the run's start), oldest first, through `idx_events_owner_type_created`; then
 *   `matched_through` is set and only the live path looks at it.
 *
 * No event is missed between the two, with no watermark: the backfill reads the events only
 * after it read the waitpoint, so after the waitpoint was committed; any event committed later
 * is still pending then, and the live pass that takes it reads the waiting waitpoints after it
 * read the event, so it sees this one. An event committed earlier is in the backfill's read.
 * An event seen by both paths resolves the waitpoint once: `resolveWaitpoint` is a conditional
 * update, and the second resolution is a no-op. Which event wins is the first one found: the
 * oldest in the backfill and within a batch; between the two paths, whichever commits first.
 */
import { loadJson } from '../blobs/index.js';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { resolveWaitpoint } from '../queue/index.js';
import type { Expression } from '../expressions/index.js';
import { compileExpression } from '../registry/index.js';
import { isTruthy } from '../runtimes/index.js';
import { fromDbJson, toDbTimestamp, type DatabaseHandle, type SwarmDatabase } from '../storage/index.js';

/** An event as a waiting step sees it: its match's `event`, and the step's output. */
export interface WaitedEvent {
  readonly id: string;
  readonly type: string;
  readonly source: string;
  readonly payload: unknown;
  readonly created_at: string;
}

/** A waiting event waitpoint, ready to be matched. */
interface Waiting {
  readonly id: string;
  readonly ownerId: string;
  readonly eventType: string;
  readonly eventSource: string | null;
  /** Events created before this moment (ms) do not count. */
  readonly since: number;
  readonly match: Expression | null;
  /** What the match sees besides `event`: trigger, variables, run, steps… */
  readonly scope: Record<string, unknown>;
}

/** Events read per page by the backfill, and waitpoints backfilled per pass. */
const BACKFILL_PAGE = 500;
const BACKFILL_WAITPOINTS = 100;

export class EventWaits {
  constructor(
    private readonly handle: DatabaseHandle,
    private readonly logger?: Logger,
  ) {}

  /**
   * The waitpoints each event of the batch settles, by event id. A waitpoint goes to the first
   * event (in the batch's order, oldest first) that matches it; an event may settle several.
   */
  async matchBatch(
    events: readonly (WaitedEvent & { readonly ownerId: string })[],
  ): Promise<Map<string, string[]>> {
    const settled = new Map<string, string[]>();
    if (events.length === 0) return settled;
    const waiting = await this.waiting((query) =>
      query
        .where('w.event_type', 'in', [...new Set(events.map((e) => e.type))])
        .where('w.owner_id', 'in', [...new Set(events.map((e) => e.ownerId))]),
    );
    if (waiting.length === 0) return settled;
    const taken = new Set<string>();
    for (const event of events) {
      for (const wait of waiting) {
        if (taken.has(wait.id) || wait.ownerId !== event.ownerId || wait.eventType !== event.type) continue;
        if (!(await this.matches(wait, event))) continue;
        taken.add(wait.id);
        settled.set(event.id, [...(settled.get(event.id) ?? []), wait.id]);
      }
    }
    return settled;
  }

  /** Settles a matched waitpoint, in the transaction that dispatches the event. */
  async settle(trx: Kysely<SwarmDatabase>, ownerId: string, waitpointId: string, event: WaitedEvent) {
    const { id, type, source, payload, created_at } = event;
    const waited: WaitedEvent = { id, type, source, payload, created_at };
    return resolveWaitpoint(
      this.handle,
      { id: waitpointId, ownerId, status: 'resolved', result: { event: waited }, resolvedBy: `event:${id}` },
      new Date(),
      trx,
    );
  }

  /**
   * Checks the waitpoints not yet backfilled against the events already published since their
   * `events_since`; returns how many it settled.
   */
  async backfill(): Promise<number> {
    const fresh = await this.waiting((query) =>
      query.where('w.matched_through', 'is', null).orderBy('w.created_at').limit(BACKFILL_WAITPOINTS),
    );
    let settled = 0;
    for (const wait of fresh) {
      const { found, last } = await this.firstMatch(wait);
      if (found !== null && (await resolveWaitpoint(this.handle, resolution(wait, found))) !== null)
        settled++;
      await this.handle.db
        .updateTable('waitpoints')
        .set({ matched_through: last ?? '', events_since: toDbTimestamp(new Date(wait.since)) })
        .where('id', '=', wait.id)
        .where('matched_through', 'is', null)
        .execute();
    }
    return settled;
  }

  /** The oldest stored event since `wait.since` that matches, and the last event checked. */
  private async firstMatch(wait: Waiting): Promise<{ found: WaitedEvent | null; last: string | null }> {
    let cursor: { createdAt: string; id: string } | null = null;
    for (;;) {
      let query = this.handle.db
        .selectFrom('events')
        .select(['id', 'type', 'source', 'payload', 'created_at'])
        .where('owner_id', '=', wait.ownerId)
        .where('type', '=', wait.eventType)
        .where('created_at', '>=', toDbTimestamp(new Date(wait.since)));
      if (wait.eventSource !== null) query = query.where('source', '=', wait.eventSource);
      if (cursor !== null) {
        const { createdAt, id } = cursor;
        query = query.where((eb) =>
          eb.or([
            eb('created_at', '>', createdAt),
            eb.and([eb('created_at', '=', createdAt), eb('id', '>', id)]),
          ]),
        );
      }
      const rows = await query.orderBy('created_at').orderBy('id').limit(BACKFILL_PAGE).execute();
      for (const row of rows) {
        const event = { ...row, payload: await loadJson(this.handle.db, row.payload) };
        if (await this.matches(wait, event)) return { found: event, last: row.id };
      }
      const tail = rows.at(-1);
      if (rows.length < BACKFILL_PAGE || tail === undefined)
        return { found: null, last: tail?.id ?? cursor?.id ?? null };
      cursor = { createdAt: tail.created_at, id: tail.id };
    }
  }

  /**
   * Whether the event satisfies the waitpoint: its source (when the wait names one), its time
   * (not before the lookback's start) and its match. A match that fails to evaluate (a limit,
   * a type error on this event's payload) does not match, and is logged.
   */
  private async matches(wait: Waiting, event: WaitedEvent): Promise<boolean> {
    if (wait.eventSource !== null && wait.eventSource !== event.source) return false;
    if (Date.parse(event.created_at) < wait.since) return false;
    if (wait.match === null) return true;
    try {
      return isTruthy(await wait.match.evaluate({ ...wait.scope, event }));
    } catch (error) {
      this.logger?.warn(
        { err: error, waitpoint: wait.id, event: event.id },
        'a wait_for match failed on an event; the event does not count for it',
      );
      return false;
    }
  }

  /** Waiting event waitpoints, with their run's start (the default lookback). */
  private async waiting(narrow: (query: WaitingQuery) => WaitingQuery): Promise<Waiting[]> {
    const rows = await narrow(
      waitingBase(this.handle.db).where('w.status', '=', 'waiting').where('w.kind', '=', 'event'),
    ).execute();
    return rows.flatMap((row) => {
      if (row.event_type === null) return [];
      const spec = (fromDbJson(row.spec) ?? {}) as { match?: unknown; scope?: unknown };
      let match: Expression | null = null;
      if (typeof spec.match === 'string') {
        try {
          match = compileExpression(spec.match);
        } catch (error) {
          // Checked when the step began waiting; a row written otherwise matches nothing.
          this.logger?.warn({ err: error, waitpoint: row.id }, 'a wait_for match does not parse');
          return [];
        }
      }
      const since = row.events_since ?? row.run_started_at ?? row.created_at;
      return [
        {
          id: row.id,
          ownerId: row.owner_id,
          eventType: row.event_type,
          eventSource: row.event_source,
          since: Date.parse(since),
          match,
          scope:
            typeof spec.scope === 'object' && spec.scope !== null
              ? (spec.scope as Record<string, unknown>)
              : {},
        },
      ];
    });
  }
}

type WaitingQuery = ReturnType<typeof waitingBase>;
function waitingBase(db: Kysely<SwarmDatabase>) {
  return db
    .selectFrom('waitpoints as w')
    .leftJoin('workflow_runs as r', 'r.id', 'w.run_id')
    .select([
      'w.id',
      'w.owner_id',
      'w.event_type',
      'w.event_source',
      'w.events_since',
      'w.spec',
      'w.created_at',
      'r.started_at as run_started_at',
    ]);
}

function resolution(wait: Waiting, event: WaitedEvent) {
  return {
    id: wait.id,
    ownerId: wait.ownerId,
    status: 'resolved' as const,
    result: { event },
    resolvedBy: `event:${event.id}`,
  };
}
