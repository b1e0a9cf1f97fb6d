import { sql, type Kysely } from 'kysely';
import { viewJson } from '../blobs/index.js';
import type { Engine, RunView } from '../engine/index.js';
import {
  fromDbJson,
  newId,
  toDbJson,
  toDbTimestamp,
  type Store,
  type SwarmDatabase,
} from '../storage/index.js';
import { FINISHED_RUN_STATUSES, historyDb, type FinishedRunStatus, type HistoryDb } from './tables.js';

/** The most messages one run's archived conversation keeps; later ones are counted, not kept. */
export const CONVERSATION_CAP = 500;

/** One archived message: who spoke to whom, what kind, what. */
export interface ArchivedMessage {
  readonly id: string;
  readonly taskId: string | null;
  readonly sender: string | null;
  readonly recipient: string | null;
  readonly type: string;
  readonly content: unknown;
  readonly metadata: Record<string, unknown>;
  readonly time: string;
}

/** What a run cost and how long its steps took, as archived. */
export interface ArchivedMetrics {
  readonly steps: number;
  /** Tasks the run made (attempts of its steps, handlers, child tasks). */
  readonly attempts: number;
  readonly tokens: RunView['tokens'];
  readonly cost: number;
  /** Each step's duration in ms (null for a step that never ended). */
  readonly stepDurations: Record<string, number | null>;
  /** Every message of the run, even beyond CONVERSATION_CAP. */
  readonly messages: number;
  readonly runAttempt: number;
}

/**
 * Archives finished runs that have no history row yet — or whose row is of an earlier ending
 * (a failed run retried since) — oldest ending first, at most `limit`; returns how many.
 *
 * Off the engine's hot path: a timer calls it (src/history/service.ts), and the pruner calls it
 * before deleting runs. Several processes may archive the same run at once: the unique index on
 * `execution_history.run_id` makes the second write an update of the same row to the same
 * content, so each run has exactly one history row.
 */
export async function archiveFinishedRuns(
  store: Store,
  engine: Engine,
  limit = 100,
  /** Only runs that ended at or after this (ISO); all finished runs when absent. */
  endedSince?: string,
): Promise<number> {
  const db = historyDb(store.handle.db);
  const pending = await db
    .selectFrom('workflow_runs as r')
    .select(['r.id', 'r.owner_id'])
    .where('r.status', 'in', [...FINISHED_RUN_STATUSES])
    .$if(endedSince !== undefined, (q) =>
      q.where('r.completed_at', '>=', toDbTimestamp(new Date(endedSince!))),
    )
    .where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom('execution_history as h')
            .select(sql`1`.as('one'))
            .whereRef('h.run_id', '=', 'r.id')
            .where((inner) =>
              inner.or([
                inner('r.completed_at', 'is', null),
                inner('h.completed_at', '=', inner.ref('r.completed_at')),
              ]),
            ),
        ),
      ),
    )
    .orderBy('r.completed_at')
    .orderBy('r.id')
    .limit(limit)
    .execute();
  for (const run of pending) await archiveRun(db, store.handle.db, engine, run.id, run.owner_id);
  return pending.length;
}

async function archiveRun(
  db: HistoryDb,
  blobs: Kysely<SwarmDatabase>,
  engine: Engine,
  runId: string,
  ownerId: string,
): Promise<void> {
  // The archive runs for Swarm itself, as the run's owner: the view is the one its owner saw.
  const view = await engine.getRun({ userId: ownerId, role: 'member' }, runId).catch(() => null);
  // Deleted meanwhile (by its workflow's owner, or another process's pruner): nothing to keep.
  if (view === null || !(FINISHED_RUN_STATUSES as readonly string[]).includes(view.status)) return;
  const row = await db
    .selectFrom('workflow_runs')
    .select(['workflow_id', 'input', 'completed_at'])
    .where('id', '=', runId)
    .where('owner_id', '=', ownerId)
    .executeTakeFirst();
  if (row === undefined) return;
  const messages = await db
    .selectFrom('messages')
    .selectAll()
    .where('run_id', '=', runId)
    .where('owner_id', '=', ownerId)
    .orderBy('id')
    .limit(CONVERSATION_CAP)
    .execute();
  const counts = await db
    .selectFrom('workflow_runs as r')
    .select((eb) => [
      eb
        .selectFrom('messages')
        .select((m) => m.fn.countAll<string | number>().as('n'))
        .where('run_id', '=', runId)
        .as('messages'),
      eb
        .selectFrom('tasks')
        .select((t) => t.fn.countAll<string | number>().as('n'))
        .where('run_id', '=', runId)
        .as('attempts'),
    ])
    .where('r.id', '=', runId)
    .executeTakeFirstOrThrow();
  const conversation: ArchivedMessage[] = messages.map((m) => ({
    id: m.id,
    taskId: m.task_id,
    sender: m.sender_id,
    recipient: m.recipient_id,
    type: m.message_type,
    content: fromDbJson(m.content),
    metadata: fromDbJson<Record<string, unknown>>(m.metadata) ?? {},
    time: m.created_at,
  }));
  const metrics: ArchivedMetrics = {
    steps: Object.keys(view.steps).length,
    attempts: Number(counts.attempts ?? 0),
    tokens: view.tokens,
    cost: view.cost,
    stepDurations: Object.fromEntries(
      Object.entries(view.steps).map(([id, step]) => [id, step.durationMs ?? null]),
    ),
    messages: Number(counts.messages ?? 0),
    runAttempt: view.attempt,
  };
  const values = {
    workflow_id: row.workflow_id,
    workflow_name: view.workflow,
    workflow_version: view.version,
    // The run's input may be a reference to a blob its run holds, and the run is pruned
    // before its history: the archive keeps the value (a link only above VIEW_WHOLE_MAX).
    input: toDbJson(await viewJson(blobs, row.input)),
    output: view.result === undefined ? null : toDbJson(view.result ?? null),
    conversation_log: toDbJson(conversation),
    metrics: toDbJson(metrics),
    execution_time_ms: view.durationMs,
    status: view.status as FinishedRunStatus,
    started_at: view.startedAt,
    completed_at: row.completed_at,
    run_snapshot: toDbJson(view),
  };
  await db
    .insertInto('execution_history')
    .values({ id: newId(), owner_id: ownerId, run_id: runId, ...values })
    .onConflict((oc) => oc.column('run_id').doUpdateSet(values))
    .execute();
}
