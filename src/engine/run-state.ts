import type { Kysely, Selectable } from 'kysely';
import type { NormalizedWorkflow } from '../registry/index.js';
import {
  fromDbJson,
  toDbJson,
  type DialectAdapter,
  type SwarmDatabase,
  type WorkflowRunsTable,
} from '../storage/index.js';
import type { RunFrame, RunOutcome } from './advance.js';
import { releaseHandlers, type HandlerState } from './handlers.js';
import type { RunSteps } from './plan.js';
import { writeLogs, type LogEntry } from './records.js';

export type RunRow = Selectable<WorkflowRunsTable>;

/** A run as read under its lock: what advancing needs, plus its end-of-run handlers. */
export interface StoredRun extends RunFrame {
  readonly handlers: HandlerState[] | null;
  readonly startedAt: string | null;
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

/**
 * The run's frame. A stored workflow version never changes, so its DAG is read and parsed once
 * per process (`definitions`), not on every task completion.
 */
export async function frameOf(
  trx: Kysely<SwarmDatabase>,
  row: RunRow,
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
    trigger: fromDbJson(row.trigger_data),
    workflow,
    steps: fromDbJson<RunSteps>(row.step_results) ?? {},
    handlers: fromDbJson<HandlerState[]>(row.handlers) ?? null,
    startedAt: row.started_at,
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

/**
 * Writes the steps' states and, when the run has ended, its outcome: a failure or a timeout
 * cancels the rest of its tasks, and the run's handlers are released — all in the caller's
 * transaction. `before` holds the step statuses read with the run, so only changes are logged.
 */
export async function saveRun(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  run: StoredRun,
  end: RunEnd,
  before: Record<string, string> = {},
): Promise<void> {
  const now = new Date().toISOString();
  const logs: LogEntry[] = Object.entries(run.steps)
    .filter(([id, s]) => before[id] !== s.status && s.status !== 'pending')
    .map(([id, s]) => ({
      ownerId: run.ownerId,
      runId: run.id,
      stepId: id,
      level: s.status === 'failed' ? 'error' : 'info',
      eventType: s.status === 'failed' ? 'error' : 'state_change',
      message: `step ${id} ${s.status}${s.items !== undefined && s.status === 'running' ? ` (${s.items.total} items)` : ''}${s.error ? `: ${s.error}` : ''}`,
    }));
  const ended = end.status !== 'running';
  if (ended) {
    logs.push({
      ownerId: run.ownerId,
      runId: run.id,
      level: end.status === 'completed' ? 'info' : 'error',
      eventType: end.status === 'completed' ? 'state_change' : 'error',
      message: endMessage(end),
    });
  }
  if (end.status !== 'running' && end.status !== 'completed') {
    // The run is over: its other tasks must not run, and a late completion must be refused.
    await cancelRunTasks(
      trx,
      run.id,
      'engine',
      end.status === 'timeout' ? end.error : `run failed at step ${end.step}`,
      now,
    );
  }
  if (ended && run.handlers !== null) {
    await releaseHandlers(
      trx,
      dialect,
      run,
      run.handlers,
      {
        status: end.status,
        error: end.status === 'completed' ? null : end.error,
        errorStep: end.status === 'completed' ? null : end.step,
      },
      now,
    );
    for (const h of run.handlers.filter((h) => h.status === 'running'))
      logs.push({
        ownerId: run.ownerId,
        runId: run.id,
        stepId: `${h.kind}[${h.index}]`,
        message: `handler ${h.kind}[${h.index}] started: ${h.agent}@${h.version}`,
      });
  }
  await writeLogs(trx, logs);
  const running = Object.entries(run.steps).find(([, s]) => s.status === 'running')?.[0] ?? null;
  await trx
    .updateTable('workflow_runs')
    .set({
      step_results: toDbJson(run.steps),
      current_step: running,
      updated_at: now,
      ...(end.status === 'completed' ? { status: 'completed', result: toDbJson(end.result) } : {}),
      ...(end.status === 'failed' || end.status === 'timeout'
        ? { status: end.status, error: end.error, error_step: end.step }
        : {}),
      ...(ended
        ? {
            completed_at: now,
            duration_ms: run.startedAt === null ? null : Date.parse(now) - Date.parse(run.startedAt),
            ...(run.handlers === null ? {} : { handlers: toDbJson(run.handlers) }),
          }
        : {}),
    })
    .where('id', '=', run.id)
    .execute();
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
    .where('run_id', '=', runId)
    .where('status', 'in', ['PENDING', 'RUNNING'])
    .execute();
}
