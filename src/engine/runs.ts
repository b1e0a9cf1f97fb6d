import { sql, type Kysely, type Selectable } from 'kysely';
import { NotFoundError, SwarmError } from '../errors/index.js';
import type { AgentRegistry, NormalizedWorkflow, WorkflowView } from '../registry/index.js';
import {
  fromDbJson,
  newId,
  toDbJson,
  type Caller,
  type DialectAdapter,
  type Store,
  type SwarmDatabase,
  type WorkflowRunsTable,
} from '../storage/index.js';
import { releaseReadySteps, type RunFrame, type RunOutcome } from './advance.js';
import type { RunSteps } from './plan.js';
import { writeLogs, writeStepMetric, type LogEntry } from './records.js';

export interface StartRunOptions {
  /** The run's input; for a manual run it is also its trigger data. */
  readonly input?: unknown;
  readonly triggerType?: 'manual' | 'webhook' | 'schedule' | 'event';
  readonly triggerData?: unknown;
}

/** What the queue tells the engine about a task that reached its end. */
export interface FinishedTask {
  readonly id: string;
  readonly runId: string | null;
  readonly stepId: string | null;
  readonly itemIndex: number | null;
  readonly output?: unknown;
  readonly error?: string;
  readonly durationMs?: number | null;
}

/** Reads a run under a lock for the rest of the transaction (PostgreSQL row lock; SQLite's single writer). */
async function lockRun(trx: Kysely<SwarmDatabase>, dialect: DialectAdapter, runId: string) {
  let query = trx.selectFrom('workflow_runs').selectAll().where('id', '=', runId);
  if (dialect.capabilities.skipLocked) query = query.forUpdate();
  return query.executeTakeFirst();
}

async function frameOf(
  trx: Kysely<SwarmDatabase>,
  row: {
    id: string;
    owner_id: string;
    workflow_id: string;
    workflow_name: string | null;
    attempt: number;
    trigger_data: string | null;
    step_results: string;
  },
  definitions: Map<string, NormalizedWorkflow>,
): Promise<RunFrame> {
  // A stored workflow version never changes, so its DAG is read and parsed once per process,
  // not on every task completion.
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
  };
}

/** Writes the steps' states and, when the run has ended, its outcome; a failure cancels the rest. */
async function saveRun(
  trx: Kysely<SwarmDatabase>,
  frame: RunFrame,
  outcome: RunOutcome,
  startedAt: string | null,
  before: Record<string, string> = {},
): Promise<void> {
  const now = new Date().toISOString();
  // A log line for every step whose state changed in this transaction, and for the run's end.
  const logs: LogEntry[] = Object.entries(frame.steps)
    .filter(([id, s]) => before[id] !== s.status && s.status !== 'pending')
    .map(([id, s]) => ({
      ownerId: frame.ownerId,
      runId: frame.id,
      stepId: id,
      level: s.status === 'failed' ? 'error' : 'info',
      eventType: s.status === 'failed' ? 'error' : 'state_change',
      message: `step ${id} ${s.status}${s.items !== undefined && s.status === 'running' ? ` (${s.items.total} items)` : ''}${s.error ? `: ${s.error}` : ''}`,
    }));
  if (outcome.status !== 'running') {
    logs.push({
      ownerId: frame.ownerId,
      runId: frame.id,
      level: outcome.status === 'failed' ? 'error' : 'info',
      message:
        outcome.status === 'failed'
          ? `run failed at step ${outcome.step}: ${outcome.error}`
          : 'run completed',
    });
  }
  await writeLogs(trx, logs);
  const running = Object.entries(frame.steps).find(([, s]) => s.status === 'running')?.[0] ?? null;
  const ended = outcome.status !== 'running';
  await trx
    .updateTable('workflow_runs')
    .set({
      step_results: toDbJson(frame.steps),
      current_step: running,
      updated_at: now,
      ...(outcome.status === 'completed' ? { status: 'completed', result: toDbJson(outcome.result) } : {}),
      ...(outcome.status === 'failed'
        ? { status: 'failed', error: outcome.error, error_step: outcome.step }
        : {}),
      ...(ended
        ? {
            completed_at: now,
            duration_ms: startedAt === null ? null : Date.parse(now) - Date.parse(startedAt),
          }
        : {}),
    })
    .where('id', '=', frame.id)
    .execute();
  if (outcome.status === 'failed') {
    // The run is over: its other tasks must not run, and a late completion must be refused.
    await cancelRunTasks(trx, frame.id, 'engine', `run failed at step ${outcome.step}`, now);
  }
}

/** Cancels a run's pending and running tasks; the bumped lease epoch refuses late completions. */
async function cancelRunTasks(
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

function statusesOf(steps: RunSteps): Record<string, string> {
  return Object.fromEntries(Object.entries(steps).map(([id, s]) => [id, s.status]));
}

/** Starts runs and moves them forward as their tasks finish. */
export class Engine {
  private readonly definitions = new Map<string, NormalizedWorkflow>();

  constructor(private readonly store: Store) {}

  /**
   * Creates a run of one workflow version and the tasks of the steps that can start, in one
   * transaction. Agent ranges are pinned to the versions they resolve to now.
   */
  async startRun(
    caller: Caller,
    workflow: WorkflowView,
    agents: AgentRegistry,
    options: StartRunOptions = {},
  ): Promise<string> {
    if (!workflow.enabled || workflow.status !== 'active') {
      throw new SwarmError(
        'CONFLICT',
        `workflow ${workflow.name} is ${workflow.enabled ? workflow.status : 'disabled'}; enable it to start runs`,
      );
    }
    const normalized = workflow.workflow;
    const resolver = agents.resolver();
    const steps: RunSteps = {};
    for (const step of normalized.steps) {
      const resolved =
        step.agent === undefined ? null : await resolver.resolve(step.agent.name, step.agent.range);
      if (step.agent !== undefined && resolved === null) {
        throw new SwarmError(
          'CONFLICT',
          `step ${step.id}: no usable version of ${step.agent.name} satisfies ${step.agent.range} any more`,
        );
      }
      steps[step.id] = {
        status: 'pending',
        ...(resolved === null ? {} : { agent_version: resolved.version }),
      };
    }
    const runId = newId();
    const now = new Date().toISOString();
    const triggerData = options.triggerData ?? options.input ?? {};
    const { db, dialect } = this.store.handle;
    await dialect.writeTransaction(db, async (trx) => {
      await trx
        .insertInto('workflow_runs')
        .values({
          id: runId,
          owner_id: caller.userId,
          workflow_id: workflow.id,
          workflow_name: workflow.name,
          workflow_version: workflow.version,
          status: 'running',
          trigger_type: options.triggerType ?? 'manual',
          trigger_data: toDbJson(triggerData),
          input: toDbJson(options.input ?? {}),
          step_results: toDbJson(steps),
          started_by: caller.userId,
          started_at: now,
        })
        .execute();
      const frame: RunFrame = {
        id: runId,
        ownerId: caller.userId,
        workflowName: workflow.name,
        attempt: 1,
        trigger: triggerData,
        workflow: normalized,
        steps,
      };
      await writeLogs(trx, [
        {
          ownerId: caller.userId,
          runId,
          message: `run started: ${workflow.name}@${workflow.version} (${options.triggerType ?? 'manual'})`,
        },
      ]);
      await saveRun(trx, frame, await releaseReadySteps(trx, dialect, frame), now);
    });
    return runId;
  }

  /**
   * Opens the run of a finished task under its lock, with the step's state and a metric of the
   * attempt; null when there is nothing to do (a standalone task, a run already over).
   */
  private async finishedStep(trx: Kysely<SwarmDatabase>, task: FinishedTask, success: boolean) {
    if (task.runId === null || task.stepId === null) return null;
    const row = await lockRun(trx, this.store.handle.dialect, task.runId);
    if (row === undefined || row.status !== 'running') return null;
    const frame = await frameOf(trx, row, this.definitions);
    const state = frame.steps[task.stepId];
    if (state === undefined || state.status !== 'running') return null;
    const before = statusesOf(frame.steps);
    await writeStepMetric(trx, {
      ownerId: frame.ownerId,
      runId: frame.id,
      taskId: task.id,
      stepId: task.stepId,
      durationMs: task.durationMs ?? null,
      success,
    });
    return { row, frame, state, stepId: task.stepId, runId: task.runId, before };
  }

  /** The queue's completion hook: records the step's output once and releases what follows. */
  readonly onTaskCompleted = async (trx: Kysely<SwarmDatabase>, task: FinishedTask): Promise<void> => {
    const found = await this.finishedStep(trx, task, true);
    if (found === null) return;
    const { row, frame, state, stepId, runId, before } = found;
    const now = new Date().toISOString();
    if (state.items === undefined) {
      Object.assign(state, { status: 'completed', output: task.output ?? null, completed_at: now });
    } else {
      state.items.done += 1;
      if (state.items.done === state.items.total) {
        // Fan-in: the item outputs, in item order, read from the tasks themselves.
        const items = await trx
          .selectFrom('tasks')
          .select(['result_data'])
          .where('run_id', '=', runId)
          .where('step_id', '=', stepId)
          .where('status', '=', 'COMPLETED')
          .orderBy('item_index')
          .execute();
        Object.assign(state, {
          status: 'completed',
          output: items.map((i) => fromDbJson(i.result_data)),
          completed_at: now,
        });
      }
    }
    await saveRun(
      trx,
      frame,
      await releaseReadySteps(trx, this.store.handle.dialect, frame),
      row.started_at,
      before,
    );
  };

  /** The queue's final-failure hook (retries exhausted, timeout): the step and the run fail. */
  readonly onTaskFailed = async (trx: Kysely<SwarmDatabase>, task: FinishedTask): Promise<void> => {
    const found = await this.finishedStep(trx, task, false);
    if (found === null) return;
    const { row, frame, state, stepId, before } = found;
    const error = `step ${stepId}${task.itemIndex === null ? '' : `[${task.itemIndex}]`} failed: ${task.error ?? 'unknown error'}`;
    Object.assign(state, { status: 'failed', error, completed_at: new Date().toISOString() });
    await saveRun(trx, frame, { status: 'failed', error, step: stepId }, row.started_at, before);
  };

  /**
   * Cancels a run: the run ends `cancelled` with who and why, and its pending and running tasks
   * are cancelled (their lease epoch moves on, so a running attempt's heartbeat finds its lease
   * lost and the worker aborts it; its late completion is refused).
   */
  async cancelRun(caller: Caller, runId: string, reason = 'cancelled by user'): Promise<RunView> {
    const { db, dialect } = this.store.handle;
    await dialect.writeTransaction(db, async (trx) => {
      const row = await lockRun(trx, dialect, runId);
      if (row === undefined || row.owner_id !== caller.userId) throw new NotFoundError('run', runId);
      if (row.status !== 'running' && row.status !== 'pending') {
        throw new SwarmError(
          'CONFLICT',
          `run ${runId} is ${row.status}; only a pending or running run can be cancelled`,
        );
      }
      const now = new Date().toISOString();
      await trx
        .updateTable('workflow_runs')
        .set({
          status: 'cancelled',
          cancelled_by: caller.userId,
          cancellation_reason: reason,
          completed_at: now,
          updated_at: now,
        })
        .where('id', '=', runId)
        .execute();
      await cancelRunTasks(trx, runId, caller.userId, reason, now);
    });
    return this.getRun(caller, runId);
  }

  /**
   * Retries a failed (or cancelled) run from where it stopped: completed steps keep their
   * outputs; failed steps and the steps never reached run again, as attempt n+1 of the run.
   */
  async retryRun(caller: Caller, runId: string): Promise<RunView> {
    const { db, dialect } = this.store.handle;
    await dialect.writeTransaction(db, async (trx) => {
      const row = await lockRun(trx, dialect, runId);
      if (row === undefined || row.owner_id !== caller.userId) throw new NotFoundError('run', runId);
      if (row.status !== 'failed' && row.status !== 'cancelled' && row.status !== 'timeout') {
        throw new SwarmError(
          'CONFLICT',
          `run ${runId} is ${row.status}; only a failed, cancelled or timed-out run can be retried`,
        );
      }
      const frame = await frameOf(trx, row, this.definitions);
      const reset: string[] = [];
      for (const [stepId, state] of Object.entries(frame.steps)) {
        if (state.status === 'failed' || state.status === 'running') {
          reset.push(stepId);
          delete state.error;
          delete state.output;
          delete state.items;
          delete state.completed_at;
          state.status = 'pending';
        }
      }
      const retried: RunFrame = { ...frame, attempt: row.attempt + 1 };
      const now = new Date().toISOString();
      await trx
        .updateTable('workflow_runs')
        .set({
          status: 'running',
          attempt: retried.attempt,
          error: null,
          error_step: null,
          completed_at: null,
          cancelled_by: null,
          cancellation_reason: null,
          result: null,
          updated_at: now,
        })
        .where('id', '=', runId)
        .execute();
      // The reset steps run afresh. Their earlier tasks stay as the record of attempt n, renamed
      // `<step>@<n>` ('@' cannot occur in a step id) so a fan-in does not gather them again.
      if (reset.length > 0) {
        await trx
          .updateTable('tasks')
          .set({ step_id: sql<string>`step_id || ${`@${row.attempt}`}` })
          .where('run_id', '=', runId)
          .where('step_id', 'in', reset)
          .execute();
      }
      await saveRun(trx, retried, await releaseReadySteps(trx, dialect, retried), row.started_at);
    });
    return this.getRun(caller, runId);
  }

  /** The caller's runs, newest first. */
  async listRuns(
    caller: Caller,
    filters: { workflow?: string; status?: string; limit?: number } = {},
  ): Promise<RunView[]> {
    let query = this.store.handle.db
      .selectFrom('workflow_runs')
      .selectAll()
      .where('owner_id', '=', caller.userId);
    if (filters.workflow !== undefined) query = query.where('workflow_name', '=', filters.workflow);
    if (filters.status !== undefined) query = query.where('status', '=', filters.status);
    const rows = await query
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(filters.limit ?? 50)
      .execute();
    return rows.map(viewOfRun);
  }

  /** A run with its steps, if the caller owns it. */
  async getRun(caller: Caller, runId: string): Promise<RunView> {
    const row = await this.store.handle.db
      .selectFrom('workflow_runs')
      .selectAll()
      .where('id', '=', runId)
      .where('owner_id', '=', caller.userId)
      .executeTakeFirst();
    if (row === undefined) throw new NotFoundError('run', runId);
    return viewOfRun(row);
  }
}

function viewOfRun(row: Selectable<WorkflowRunsTable>): RunView {
  return {
    id: row.id,
    workflow: row.workflow_name ?? '',
    version: row.workflow_version ?? '',
    status: row.status,
    attempt: row.attempt,
    steps: fromDbJson<RunSteps>(row.step_results) ?? {},
    result: fromDbJson(row.result),
    error: row.error,
    errorStep: row.error_step,
    startedAt: row.started_at,
    completedAt: row.completed_at,
    durationMs: row.duration_ms,
  };
}

export interface RunView {
  readonly id: string;
  readonly workflow: string;
  readonly version: string;
  readonly status: string;
  readonly attempt: number;
  readonly steps: RunSteps;
  readonly result: unknown;
  readonly error: string | null;
  readonly errorStep: string | null;
  readonly startedAt: string | null;
  readonly completedAt: string | null;
  readonly durationMs: number | null;
}
