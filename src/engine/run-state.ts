import { insertEvents, loadJson } from '../blobs/index.js';
import { sql, type Kysely, type Selectable } from 'kysely';
import {
  chunksFor,
  enqueueTasks,
  inlineChunks,
  inlineRows,
  type InlineColumn,
  type NewTask,
} from '../queue/index.js';
import type { NormalizedWorkflow } from '../registry/index.js';
import {
  fromDbJson,
  SYSTEM_EVENT_SOURCE,
  toDbJson,
  type DialectAdapter,
  type NewEvent,
  type SwarmDatabase,
  type WorkflowRunsTable,
} from '../storage/index.js';
import type { RunFrame, RunOutcome } from './advance.js';
import { releaseHandlers, type HandlerState, type RunEnding } from './handlers.js';
import type { RunSteps } from './plan.js';
import { writeLogs, type LogEntry } from './records.js';
import { endRunSpan } from '../telemetry/index.js';
import { instruments, labelOf } from '../metrics/index.js';
import { inStepOrder } from './step-order.js';
import { loadSteps, storeRunValue, storeSteps } from './run-values.js';

export type RunRow = Selectable<WorkflowRunsTable>;

/** A run as read under its lock: what advancing needs, plus its end-of-run handlers. */
export interface StoredRun extends RunFrame {
  readonly handlers: HandlerState[] | null;
  readonly startedAt: string | null;
  /** The depth of the event that started it (0: not started by an event); see migration 0010. */
  readonly eventDepth: number;
}

/** Where a run ends up after a change: still running, or one of its ends. */
export type RunEnd = RunOutcome | { status: 'timeout'; error: string; step: string | null };

/** Reads a run under a lock for the rest of the transaction (PostgreSQL row lock; SQLite's single writer). */
export async function lockRun(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  runId: string,
): Promise<RunRow | undefined> {
  let query = trx.selectFrom('workflow_runs').selectAll().where('id', '=', runId);
  if (dialect.capabilities.skipLocked) query = query.forUpdate();
  return query.executeTakeFirst();
}

/** The columns of a run its frame is made of, besides its trigger data. */
const FRAME_COLUMNS = [
  'id',
  'owner_id',
  'workflow_id',
  'workflow_name',
  'attempt',
  'status',
  'step_results',
  'handlers',
  'started_at',
  'event_depth',
  'trace_context',
  'original_run_id',
] as const;
export type FrameRow = Pick<RunRow, (typeof FRAME_COLUMNS)[number]>;

/**
 * The run's frame. A stored workflow version never changes, so its DAG is read and parsed once
 * per process (`definitions`), not on every task completion.
 */
export async function frameOf(
  trx: Kysely<SwarmDatabase>,
  row: FrameRow & Pick<RunRow, 'trigger_data'>,
  definitions: Map<string, NormalizedWorkflow>,
): Promise<StoredRun> {
  let workflow = definitions.get(row.workflow_id);
  if (workflow === undefined) {
    const stored = await trx
      .selectFrom('workflows')
      .select('steps')
      .where('id', '=', row.workflow_id)
      .executeTakeFirstOrThrow();
    workflow = fromDbJson<NormalizedWorkflow>(stored.steps)!;
    definitions.set(row.workflow_id, workflow);
  }
  return {
    id: row.id,
    ownerId: row.owner_id,
    workflowName: row.workflow_name ?? '',
    attempt: row.attempt,
    trigger: await loadJson(trx, row.trigger_data),
    workflow,
    steps: inStepOrder(await loadSteps(trx, row.step_results), workflow),
    handlers: fromDbJson<HandlerState[]>(row.handlers) ?? null,
    startedAt: row.started_at,
    eventDepth: row.event_depth,
    traceContext: row.trace_context,
    originalRunId: row.original_run_id,
  };
}

export function statusesOf(steps: RunSteps): Record<string, string> {
  return Object.fromEntries(Object.entries(steps).map(([id, s]) => [id, s.status]));
}

function endMessage(end: Exclude<RunEnd, { status: 'running' }>): string {
  if (end.status === 'completed') return 'run completed';
  if (end.status === 'timeout') return end.error;
  return `run failed at step ${end.step}: ${end.error}`;
}

/** A run changed in a transaction: how it ends up, and its step statuses as they were read. */
export interface RunChange {
  readonly run: StoredRun;
  readonly end: RunEnd;
  readonly before?: Record<string, string>;
  /**
   * The tasks of the handlers due at the run's end, worked out already (planHandlers, before
   * the transaction; `run.handlers` marked accordingly); absent: worked out here.
   */
  readonly handlerTasks?: readonly NewTask[];
}

/** How a run that ends ended, as its handlers see it. */
export function endingOf(end: Exclude<RunEnd, { status: 'running' }>): RunEnding {
  return {
    status: end.status,
    error: end.status === 'completed' ? null : end.error,
    errorStep: end.status === 'completed' ? null : end.step,
  };
}

const CHANGED_COLUMNS: readonly InlineColumn[] = [
  { name: 'id', type: 'text' },
  { name: 'step_results', type: 'json' },
  { name: 'current_step', type: 'text' },
  { name: 'status', type: 'text' },
  { name: 'result', type: 'json' },
  { name: 'error', type: 'text' },
  { name: 'error_step', type: 'text' },
  { name: 'ended', type: 'integer' },
  { name: 'duration_ms', type: 'bigint' },
  { name: 'handlers', type: 'json' },
];

interface ChangedRow {
  id: string;
  step_results: string;
  current_step: string | null;
  status: string;
  result: string | null;
  error: string | null;
  error_step: string | null;
  ended: number;
  duration_ms: number | null;
  handlers: string | null;
}

/**
 * Writes the runs' step states and, for those that ended, their outcome: a failure or a
 * timeout cancels the rest of the run's tasks, and ended runs' handlers are released — all in
 * the caller's transaction, with one multi-row insert for the log lines of every change and one
 * UPDATE for every run (a batch of completions touching hundreds of runs costs a few statements).
 * `before` holds the step statuses read with the run, so only changes are logged.
 */
export async function saveRuns(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  changes: readonly RunChange[],
  /** Log lines of the caller's, written in the same statement as the changes' own. */
  extraLogs: readonly LogEntry[] = [],
): Promise<void> {
  if (changes.length === 0) return;
  const now = new Date().toISOString();
  const logs: LogEntry[] = [...extraLogs];
  const rows: ChangedRow[] = [];
  const events: NewEvent[] = [];
  for (const { run, end, before = {}, handlerTasks } of changes) {
    // In the steps' order, the steps that ended before those they released: as it happened.
    const changed = Object.entries(run.steps).filter(
      ([id, s]) => before[id] !== s.status && s.status !== 'pending',
    );
    const released = changed.filter(([, s]) => s.status === 'running');
    for (const [id, s] of [...changed.filter(([, s]) => s.status !== 'running'), ...released]) {
      logs.push({
        ownerId: run.ownerId,
        runId: run.id,
        stepId: id,
        level: s.status === 'failed' ? 'error' : 'info',
        eventType: s.status === 'failed' ? 'error' : 'state_change',
        message: `step ${id} ${s.status}${s.items !== undefined && s.status === 'running' ? ` (${s.items.total} items)` : ''}${s.error ? `: ${s.error}` : ''}`,
      });
    }
    const ended = end.status !== 'running';
    if (end.status !== 'running') {
      logs.push({
        ownerId: run.ownerId,
        runId: run.id,
        level: end.status === 'completed' ? 'info' : 'error',
        eventType: end.status === 'completed' ? 'state_change' : 'error',
        message: endMessage(end),
      });
    }
    if (end.status !== 'running') events.push(runEndedEvent(run, end));
    // The run's span (tracing on), recorded by whichever process ends the run. Inside the
    // transaction, like the metrics below: a rolled-back end recorded again records it twice.
    if (end.status !== 'running')
      endRunSpan(run.traceContext, {
        runId: run.id,
        workflowName: run.workflowName,
        attempt: run.attempt,
        status: end.status,
        error: end.status === 'completed' ? null : end.error,
      });
    if (end.status === 'failed' || end.status === 'timeout') {
      // The run is over: its other tasks must not run, and a late completion must be refused.
      const reason = end.status === 'timeout' ? end.error : `run failed at step ${end.step}`;
      await cancelRunTasks(trx, run.id, 'engine', reason, now);
    }
    if (end.status !== 'running' && run.handlers !== null) {
      if (handlerTasks === undefined)
        await releaseHandlers(trx, dialect, run, run.handlers, endingOf(end), now);
      else if (handlerTasks.length > 0) await enqueueTasks(trx, dialect, handlerTasks);
      for (const h of run.handlers.filter((h) => h.status === 'running'))
        logs.push({
          ownerId: run.ownerId,
          runId: run.id,
          stepId: `${h.kind}[${h.index}]`,
          message: `handler ${h.kind}[${h.index}] started: ${h.agent}@${h.version}`,
        });
    }
    const owner = { runId: run.id, ownerId: run.ownerId };
    rows.push({
      id: run.id,
      step_results: await storeSteps({ db: trx, dialect }, owner, run.steps),
      current_step: Object.entries(run.steps).find(([, s]) => s.status === 'running')?.[0] ?? null,
      status: end.status,
      result:
        end.status === 'completed'
          ? await storeRunValue({ db: trx, dialect }, owner, end.result, 'result')
          : null,
      error: end.status === 'failed' || end.status === 'timeout' ? end.error : null,
      error_step: end.status === 'failed' || end.status === 'timeout' ? end.step : null,
      ended: ended ? 1 : 0,
      duration_ms: ended && run.startedAt !== null ? Date.parse(now) - Date.parse(run.startedAt) : null,
      handlers: run.handlers === null ? null : toDbJson(run.handlers),
    });
    // Metrics (src/metrics): in memory, by workflow name. Observed inside the transaction: in the
    // rare case it is rolled back and recorded again (PrepareFirstError) a run counts twice.
    const durationMs = rows[rows.length - 1]!.duration_ms;
    if (ended && durationMs !== null)
      instruments.runDuration.observe(
        { workflow: labelOf(run.workflowName), status: end.status },
        durationMs / 1000,
      );
  }
  await writeLogs(trx, dialect, logs);
  // Published with the run's end, in its transaction: subscribers hear of every end exactly once.
  await insertEvents(trx, dialect, events);
  for (const chunk of inlineChunks(dialect, rows, CHANGED_COLUMNS)) {
    const changed = inlineRows<ChangedRow>(dialect, CHANGED_COLUMNS, chunk);
    await trx
      .with(
        'changed(id, step_results, current_step, status, result, error, error_step, ended, duration_ms, handlers)',
        () => changed,
      )
      .updateTable('workflow_runs')
      .from('changed')
      .set((eb) => ({
        step_results: eb.ref('changed.step_results'),
        current_step: eb.ref('changed.current_step'),
        status: eb.ref('changed.status'),
        // A running run keeps what it has; an ended one gets its outcome.
        result: sql`CASE WHEN changed.ended = 1 THEN changed.result ELSE workflow_runs.result END`,
        error: sql`CASE WHEN changed.ended = 1 THEN changed.error ELSE workflow_runs.error END`,
        error_step: sql`CASE WHEN changed.ended = 1 THEN changed.error_step ELSE workflow_runs.error_step END`,
        completed_at: sql`CASE WHEN changed.ended = 1 THEN ${now} ELSE workflow_runs.completed_at END`,
        duration_ms: sql`CASE WHEN changed.ended = 1 THEN changed.duration_ms ELSE workflow_runs.duration_ms END`,
        handlers: sql`COALESCE(changed.handlers, workflow_runs.handlers)`,
        updated_at: now,
      }))
      .whereRef('workflow_runs.id', '=', 'changed.id')
      .execute();
  }
}

/**
 * The system event of a run's end (`run.completed`, `run.failed`, `run.timeout`; cancelRun
 * publishes `run.cancelled`): what event triggers and outgoing webhooks subscribe to.
 */
export function runEndedEvent(
  run: Pick<RunFrame, 'id' | 'ownerId' | 'workflowName' | 'attempt'> & { eventDepth?: number },
  end: { status: string; result?: unknown; error?: string | null; step?: string | null },
): NewEvent {
  return {
    ownerId: run.ownerId,
    source: SYSTEM_EVENT_SOURCE,
    type: `run.${end.status}`,
    runId: run.id,
    ...(run.eventDepth === undefined ? {} : { runEventDepth: run.eventDepth }),
    // No idempotency key: the run's end is written once, under the run's lock, with this event.
    payload: {
      run_id: run.id,
      workflow: run.workflowName,
      attempt: run.attempt,
      status: end.status,
      ...(end.status === 'completed' ? { result: end.result ?? null } : {}),
      ...(end.error === undefined || end.error === null
        ? {}
        : { error: end.error, error_step: end.step ?? null }),
    },
  };
}

/** One run's change: see saveRuns. */
export async function saveRun(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  run: StoredRun,
  end: RunEnd,
  before: Record<string, string> = {},
  extraLogs: readonly LogEntry[] = [],
): Promise<void> {
  await saveRuns(trx, dialect, [{ run, end, before }], extraLogs);
}

/** Trigger data up to this size (as stored) is read with the run's frame; larger only when needed. */
const INLINE_TRIGGER_BYTES = 64 * 1024;

/** A run's frame columns, and its trigger data when that is small (else null: see triggersOf). */
export type LockedRun = FrameRow & { small_trigger: string | null };

/**
 * Reads what runs' frames are made of, and their trigger data only when it is small: it can be
 * large (a fan-out's million items), and a completion needs it only when it releases a step or
 * ends the run (triggersOf), not on each of the thousands of batches in between. With `lock`
 * (in a transaction) the rows are locked in id order, so two transactions locking overlapping
 * sets cannot deadlock; without, it is a look ahead of the transaction that will lock them.
 */
export async function readFrames(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  runIds: readonly string[],
  { lock }: { lock: boolean },
): Promise<LockedRun[]> {
  const size = dialect.jsonStoredBytes('trigger_data');
  const rows: LockedRun[] = [];
  for (const chunk of chunksFor(dialect, [...runIds].sort(), 1)) {
    let query = db
      .selectFrom('workflow_runs')
      .select(FRAME_COLUMNS)
      .select(
        sql<string | null>`CASE WHEN ${size} <= ${INLINE_TRIGGER_BYTES} THEN trigger_data END`.as(
          'small_trigger',
        ),
      )
      .where('id', 'in', chunk)
      .orderBy('id');
    if (lock && dialect.capabilities.skipLocked) query = query.forUpdate();
    for (const row of await query.execute()) rows.push(row);
  }
  return rows;
}

/**
 * The trigger data of runs: from their rows where readFrames read it (small), the rest in one
 * more query.
 */
export async function triggersOf(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  rows: readonly LockedRun[],
): Promise<Map<string, unknown>> {
  const triggers = new Map<string, unknown>();
  const large: string[] = [];
  for (const row of rows)
    if (row.small_trigger === null) large.push(row.id);
    else triggers.set(row.id, await loadJson(db, row.small_trigger));
  for (const [id, trigger] of await readTriggers(db, dialect, large)) triggers.set(id, trigger);
  return triggers;
}

/** The trigger data of runs, by run id. */
async function readTriggers(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  runIds: readonly string[],
): Promise<Map<string, unknown>> {
  const triggers = new Map<string, unknown>();
  for (const chunk of chunksFor(dialect, runIds, 1)) {
    const rows = await trx
      .selectFrom('workflow_runs')
      .select(['id', 'trigger_data'])
      .where('id', 'in', chunk)
      .execute();
    for (const row of rows) triggers.set(row.id, await loadJson(trx, row.trigger_data));
  }
  return triggers;
}

/** Cancels a run's pending and running tasks; the bumped lease epoch refuses late completions. */
export async function cancelRunTasks(
  trx: Kysely<SwarmDatabase>,
  runId: string,
  by: string,
  reason: string,
  now: string,
): Promise<void> {
  await trx
    .updateTable('tasks')
    .set((eb) => ({
      status: 'CANCELLED',
      cancelled_at: now,
      cancelled_by: by,
      cancellation_reason: reason,
      lease_epoch: eb('lease_epoch', '+', 1),
      locked_by: null,
      locked_until: null,
    }))
    // Its tasks, and the tasks they spawned (an agent loop's tool calls carry no run_id).
    .where((eb) =>
      eb.or([
        eb('run_id', '=', runId),
        eb(
          'parent_task_id',
          'in',
          eb.selectFrom('tasks as parent').select('parent.id').where('parent.run_id', '=', runId),
        ),
      ]),
    )
    .where('status', 'in', ['PENDING', 'RUNNING'])
    .execute();
  // What those tasks waited for (an approval, an event, a sleep) ends with them, so no inbox
  // offers a decision nobody awaits and the dispatcher no longer matches events to them.
  await trx
    .updateTable('waitpoints')
    .set({ status: 'cancelled', resolved_by: 'system', resolved_at: now, updated_at: now })
    .where('status', '=', 'waiting')
    .where((eb) =>
      eb.or([
        eb('run_id', '=', runId),
        eb(
          'task_id',
          'in',
          eb
            .selectFrom('tasks as child')
            .select('child.id')
            .where(
              'child.parent_task_id',
              'in',
              eb.selectFrom('tasks as parent').select('parent.id').where('parent.run_id', '=', runId),
            ),
        ),
      ]),
    )
    .execute();
}
