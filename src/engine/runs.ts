import { insertEvents, loadJson, viewJson, viewStored } from '../blobs/index.js';
import { sql, type Kysely } from 'kysely';
import { InputError, NotFoundError, SwarmError } from '../errors/index.js';
import type { AgentRegistry, NormalizedWorkflow, WorkflowView } from '../registry/index.js';
import {
  actorOf,
  fromDbJson,
  newId,
  recordAudit,
  toDbJson,
  type Caller,
  type Store,
  type SwarmDatabase,
} from '../storage/index.js';
import {
  DEFAULT_MAX_FAN_OUT,
  planReadySteps,
  releaseReadySteps,
  type PlanLimits,
  type RunOutcome,
} from './advance.js';
import { readItemOutputs } from './fan-in.js';
import { applyRunFilters, encodeCursor, type RunFilters } from './run-filters.js';
import {
  enqueueTasks,
  PREPARE_ON_REQUEST,
  PrepareFirstError,
  type LostLease,
  type NewTask,
  type PendingCompletion,
} from '../queue/index.js';
import { NeedsThreadError } from '../expressions/index.js';
import {
  applyCompletions,
  CompletionPlans,
  isMoving,
  planAfterConsensus,
  planMatches,
  prepareCompletions,
  taskOfStep,
} from './completions.js';
import { readConsensus, type ConsensusView } from './consensus-view.js';
import { readWaiting, type WaitingView } from './waiting.js';
import {
  decideConsensus,
  memberLookup,
  writeConsensusRecords,
  type ConsensusOutcome,
  type ConsensusRecord,
} from './consensus.js';
import {
  handlerStepId,
  parseHandlerStepId,
  pinHandlers,
  planHandlers,
  type HandlerState,
} from './handlers.js';
import type { RunSteps } from './plan.js';
import { planFork, readForks, type ForkLink, type ForkRunOptions, type ForkView } from './fork.js';
import { inStepOrder } from './step-order.js';
import { listedSteps, loadSteps, storeRunValue, storeSteps, viewedSteps } from './run-values.js';
import {
  concurrencyOf,
  groupsOfRuns,
  lockGroup,
  runsOfGroup,
  waitingGroups,
  type ConcurrencyGroup,
  type RunConcurrency,
} from './concurrency.js';
import {
  readRunUsage,
  runTotals,
  stepViews,
  type RunUsage,
  type StepView,
  type TokenCounts,
} from './run-usage.js';
import { endRunSpan, newRunTrace, runTraceparent } from '../telemetry/index.js';
import { instruments, labelOf } from '../metrics/index.js';
import { writeLogs, writeStepMetrics, type StepMetric } from './records.js';
import {
  cancelRunTasks,
  endingOf,
  frameOf,
  lockRun,
  readFrames,
  triggersOf,
  type LockedRun,
  runEndedEvent,
  saveRuns,
  statusesOf,
  type RunChange,
  type RunRow,
  type StoredRun,
  type RunEnd,
} from './run-state.js';
import type { LogEntry } from './records.js';

export interface StartRunOptions {
  /** The run's input; for a manual run it is also its trigger data. */
  readonly input?: unknown;
  readonly triggerType?: 'manual' | 'webhook' | 'schedule' | 'event';
  readonly triggerData?: unknown;
  /** The trigger that started it (not for manual runs). */
  readonly triggerId?: string;
  /** Who started it: the caller by default; null for a run a trigger started on its own. */
  readonly startedBy?: string | null;
  /** The depth of the event that started it (event triggers); the events it causes are one deeper. */
  readonly eventDepth?: number;
  /** Set for a fork (forkRun): the run it came from, the step it runs again from, the chain's root. */
  readonly fork?: ForkLink;
}

/**
 * A run ready to be written: its agents resolved and pinned, its first steps worked out (their
 * expressions evaluated, their tasks built), nothing stored yet.
 */
export interface PreparedRun {
  readonly id: string;
  readonly caller: Caller;
  readonly workflow: WorkflowView;
  /** The steps' states once the first ready steps were released. */
  readonly steps: RunSteps;
  readonly handlers: HandlerState[] | null;
  readonly options: StartRunOptions;
  /** Where the run stands at its start, and the tasks of the steps released. */
  readonly start: { readonly outcome: RunOutcome; readonly tasks: readonly NewTask[] };
  /**
   * Its concurrency key and rule, when the workflow has `concurrency`, and its steps as they were
   * before its first steps were planned (what a run that waits for a slot stores).
   */
  readonly concurrency?: RunConcurrency & { readonly steps: RunSteps };
}

/** Where a new (or retried) run goes under its workflow's concurrency. */
type Placement =
  | { readonly status: 'running' }
  | { readonly status: 'pending' }
  | { readonly status: 'cancelled'; readonly reason: string };

export interface EngineOptions {
  /** The most items one `for_each` may fan out to (SWARM_MAX_FAN_OUT). @default 100000 */
  readonly maxFanOut?: number;
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

/** What a run's expressions see as `trigger`: the trigger's data, or a manual run's input. */
const triggerDataOf = (options: StartRunOptions): unknown => options.triggerData ?? options.input ?? {};

const deadline = (workflow: NormalizedWorkflow, from: string): string | null =>
  workflow.timeout_seconds === undefined
    ? null
    : new Date(Date.parse(from) + workflow.timeout_seconds * 1000).toISOString();

/** Starts runs and moves them forward as their tasks finish. */
export class Engine {
  private readonly definitions = new Map<string, NormalizedWorkflow>();
  private readonly limits: PlanLimits;

  constructor(
    private readonly store: Store,
    options: EngineOptions = {},
  ) {
    this.limits = { maxFanOut: options.maxFanOut ?? DEFAULT_MAX_FAN_OUT };
  }

  /** The store's dialect, for callers writing in the engine's transactions (trigger firings). */
  get dialect() {
    return this.store.handle.dialect;
  }

  /**
   * Creates a run of one workflow version and the tasks of the steps that can start, in one
   * transaction. Agent ranges (of steps and handlers) are pinned to the versions they resolve to now.
   */
  async startRun(
    caller: Caller,
    workflow: WorkflowView,
    agents: AgentRegistry,
    options: StartRunOptions = {},
  ): Promise<string> {
    const prepared = await this.prepareRun(caller, workflow, agents, options);
    const { db, dialect } = this.store.handle;
    await dialect.writeTransaction(db, async (trx) => {
      await this.insertRun(trx, prepared);
      await recordAudit(trx, {
        caller,
        action: 'run.start',
        resourceType: 'run',
        resourceId: prepared.id,
        metadata: { workflow: workflow.name, version: workflow.version },
      });
    });
    return prepared.id;
  }

  /**
   * The reading half of startRun: checks the workflow can start, pins its agents and works out
   * its first steps. Triggers call it before their own transaction, then `insertRun` inside it,
   * so the run is stored together with what made it start (a webhook's key, a schedule's tick,
   * an event). A first step whose expression fails (input, when, for_each) or whose for_each is
   * no list or too long is the starter's bad input: an InputError naming the step and field
   * (`steps.greet.input`), and nothing is stored.
   */
  async prepareRun(
    caller: Caller,
    workflow: WorkflowView,
    agents: AgentRegistry,
    options: StartRunOptions = {},
  ): Promise<PreparedRun> {
    const normalized = this.startable(workflow).workflow;
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
    const handlers = await pinHandlers(normalized, agents);
    return this.planStart(newId(), caller, workflow, steps, handlers, options);
  }

  /** The workflow, if runs of it may start: enabled and active. */
  private startable(workflow: WorkflowView): WorkflowView {
    if (!workflow.enabled || workflow.status !== 'active') {
      throw new SwarmError(
        'CONFLICT',
        `workflow ${workflow.name} is ${workflow.enabled ? workflow.status : 'disabled'}; enable it to start runs`,
      );
    }
    return workflow;
  }

  /**
   * The same prepared run again (the same pinned agents) under a new id with other trigger
   * data, its first steps worked out anew for that data: one per schedule tick. Throws as
   * prepareRun does.
   */
  async again(prepared: PreparedRun, triggerData: unknown): Promise<PreparedRun> {
    const pinned: RunSteps = {};
    for (const [id, state] of Object.entries(prepared.steps))
      pinned[id] = {
        status: 'pending',
        ...(state.agent_version === undefined ? {} : { agent_version: state.agent_version }),
      };
    const options = { ...prepared.options, input: triggerData, triggerData };
    return this.planStart(newId(), prepared.caller, prepared.workflow, pinned, prepared.handlers, options);
  }

  private async planStart(
    id: string,
    caller: Caller,
    workflow: WorkflowView,
    steps: RunSteps,
    handlers: HandlerState[] | null,
    options: StartRunOptions,
  ): Promise<PreparedRun> {
    const frame = {
      id,
      ownerId: caller.userId,
      workflowName: workflow.name,
      attempt: 1,
      trigger: triggerDataOf(options),
      workflow: workflow.workflow,
      steps,
      originalRunId: options.fork?.originalRunId ?? null,
    };
    const concurrency = await concurrencyOf(workflow.workflow, options.input ?? {}, frame.trigger);
    // Planning below moves the first steps on in `steps`: a run that waits for a slot is stored
    // as it was before, and planned again when it starts.
    const unplanned = concurrency === undefined ? undefined : structuredClone(steps);
    const { outcome, tasks, failure } = await planReadySteps(frame, this.limits);
    if (failure !== undefined)
      throw new InputError(`steps.${failure.step}.${failure.field}`, failure.message);
    return {
      id,
      caller,
      workflow,
      steps,
      handlers,
      options,
      start: { outcome, tasks },
      ...(concurrency === undefined ? {} : { concurrency: { ...concurrency, steps: unplanned! } }),
    };
  }

  /**
   * Where a new run goes under its key (locked here for the rest of the transaction): it runs
   * when a slot is free; over the limit, `queue` has it wait (FIFO: also behind runs already
   * waiting), `cancel_newest` records it cancelled, `cancel_in_progress` cancels the oldest
   * running runs of the key to make room.
   */
  private async place(
    trx: Kysely<SwarmDatabase>,
    group: ConcurrencyGroup,
    rule: { readonly limit: number; readonly strategy: RunConcurrency['strategy'] },
    runId: string,
  ): Promise<Placement> {
    await lockGroup(trx, this.store.handle.dialect, group);
    const running = await runsOfGroup(trx, group, 'running');
    const full = running.length >= rule.limit;
    const named = `key "${group.key}" of ${group.workflowName} has ${running.length} running run(s), limit ${rule.limit}`;
    switch (rule.strategy) {
      case 'queue':
        return full || (await runsOfGroup(trx, group, 'pending', 1)).some((r) => r.id !== runId)
          ? { status: 'pending' }
          : { status: 'running' };
      case 'cancel_newest':
        return full
          ? { status: 'cancelled', reason: `concurrency limit reached (cancel_newest): ${named}` }
          : { status: 'running' };
      case 'cancel_in_progress': {
        const excess = running.slice(0, Math.max(0, running.length - rule.limit + 1));
        for (const old of excess) {
          const row = await lockRun(trx, this.store.handle.dialect, old.id);
          if (row?.status !== 'running') continue;
          await this.cancelLocked(
            trx,
            row,
            'engine',
            `cancelled by newer run ${runId} (concurrency cancel_in_progress: ${named})`,
          );
        }
        return { status: 'running' };
      }
    }
  }

  /**
   * Starts the waiting runs of a key while it has free slots, oldest first, in the caller's
   * transaction (the one that ended a run of the key, or the safety-net sweep). A run that ends
   * as soon as it starts (every step skipped, a failing expression) frees its slot at once, so
   * the count is read again for each.
   */
  private async admitWaiting(trx: Kysely<SwarmDatabase>, group: ConcurrencyGroup): Promise<number> {
    const { dialect } = this.store.handle;
    await lockGroup(trx, dialect, group);
    let admitted = 0;
    for (;;) {
      const [head] = await runsOfGroup(trx, group, 'pending', 1);
      if (head === undefined) return admitted;
      const running = await runsOfGroup(trx, group, 'running');
      if (running.length >= (head.concurrency_limit ?? 1)) return admitted;
      const row = await lockRun(trx, dialect, head.id);
      if (row === undefined) return admitted;
      await this.loadDefinitions([row.workflow_id]);
      const run = await frameOf(trx, row, this.definitions);
      const now = new Date().toISOString();
      const started: StoredRun = { ...run, startedAt: now };
      await trx
        .updateTable('workflow_runs')
        .set({ status: 'running', started_at: now, timeout_at: deadline(run.workflow, now), updated_at: now })
        .where('id', '=', row.id)
        .execute();
      const before = statusesOf(run.steps);
      const end = await releaseReadySteps(trx, dialect, started, this.limits);
      const log = {
        ownerId: row.owner_id,
        runId: row.id,
        message: `run started: a concurrency slot of key "${group.key}" is free (${running.length + 1} of ${head.concurrency_limit ?? 1} running)`,
      };
      await this.save(trx, [{ run: started, end, before }], [log], false);
      admitted++;
    }
  }

  /**
   * Writes runs' changes (saveRuns) and, for those that ended under a concurrency key, starts the
   * key's waiting runs in the same transaction: every way a run ends (completion, failure, timeout,
   * a lost lease's final failure) comes through here. cancelRun admits on its own.
   */
  private async save(
    trx: Kysely<SwarmDatabase>,
    changes: readonly RunChange[],
    extraLogs: readonly LogEntry[] = [],
    admit = true,
  ): Promise<void> {
    await saveRuns(trx, this.store.handle.dialect, changes, extraLogs);
    if (!admit) return;
    const ended = changes.filter(
      (c) => c.end.status !== 'running' && c.run.workflow.concurrency !== undefined,
    );
    if (ended.length === 0) return;
    for (const group of await groupsOfRuns(
      trx,
      ended.map((c) => c.run.id),
    ))
      await this.admitWaiting(trx, group);
  }

  /** save for one run. */
  private saveOne(
    trx: Kysely<SwarmDatabase>,
    run: StoredRun,
    end: RunEnd,
    before: Record<string, string> = {},
    extraLogs: readonly LogEntry[] = [],
  ): Promise<void> {
    return this.save(trx, [{ run, end, before }], extraLogs);
  }

  /**
   * The safety net behind admission at a run's end: starts waiting runs of keys with free slots
   * (a run that ended by a path that could not admit, such as a row deleted by hand). Cheap: one
   * query over the partial index of keyed runs when nothing waits. Returns how many started.
   */
  async admitWaitingRuns(limit = 50): Promise<number> {
    const { db, dialect } = this.store.handle;
    let admitted = 0;
    for (const group of await waitingGroups(db, limit))
      admitted += await dialect.writeTransaction(db, (trx) => this.admitWaiting(trx, group));
    return admitted;
  }

  /** The writing half of startRun, in the caller's transaction: the run and its first tasks. */
  async insertRun(trx: Kysely<SwarmDatabase>, prepared: PreparedRun): Promise<void> {
    const { id: runId, caller, workflow, steps, handlers, options } = prepared;
    const normalized = workflow.workflow;
    const now = new Date().toISOString();
    const triggerData = triggerDataOf(options);
    const dialect = this.store.handle.dialect;
    // The run span's ids, reserved under the active span (the request that starts it): null, and
    // nothing more done for it, with tracing off.
    const traceContext = newRunTrace(Date.parse(now));
    const { concurrency } = prepared;
    const placement: Placement =
      concurrency === undefined
        ? { status: 'running' }
        : await this.place(
            trx,
            { ownerId: caller.userId, workflowName: workflow.name, key: concurrency.key },
            concurrency,
            runId,
          );
    const started = placement.status === 'running';
    const handle = { db: trx, dialect };
    const owner = { runId, ownerId: caller.userId };
    await trx
      .insertInto('workflow_runs')
      .values({
        id: runId,
        owner_id: caller.userId,
        workflow_id: workflow.id,
        workflow_name: workflow.name,
        workflow_version: workflow.version,
        status: placement.status,
        trigger_type: options.triggerType ?? 'manual',
        trigger_id: options.triggerId ?? null,
        trigger_data: await storeRunValue(handle, owner, triggerData, 'trigger_data'),
        input: await storeRunValue(handle, owner, options.input ?? {}, 'input'),
        step_results: await storeSteps(
          handle,
          owner,
          started || concurrency === undefined ? steps : concurrency.steps,
        ),
        handlers: handlers === null ? null : toDbJson(handlers),
        started_by: options.startedBy === undefined ? actorOf(caller) : options.startedBy,
        started_at: started ? now : null,
        timeout_at: started ? deadline(normalized, now) : null,
        event_depth: options.eventDepth ?? 0,
        trace_context: traceContext,
        ...(concurrency === undefined
          ? {}
          : { concurrency_key: concurrency.key, concurrency_limit: concurrency.limit }),
        ...(placement.status === 'cancelled'
          ? { cancelled_by: 'engine', cancellation_reason: placement.reason, completed_at: now }
          : {}),
        ...(options.fork === undefined
          ? {}
          : {
              parent_run_id: options.fork.parentRunId,
              is_replay: 1 as const,
              forked_from_step: options.fork.fromStep,
              original_run_id: options.fork.originalRunId,
            }),
      })
      .execute();
    const run: StoredRun = {
      id: runId,
      ownerId: caller.userId,
      workflowName: workflow.name,
      attempt: 1,
      trigger: triggerData,
      workflow: normalized,
      steps,
      handlers,
      startedAt: now,
      eventDepth: options.eventDepth ?? 0,
      traceContext,
      originalRunId: options.fork?.originalRunId ?? null,
    };
    if (placement.status !== 'running') {
      await this.notStarted(trx, { ...run, concurrencyKey: concurrency?.key ?? '' }, placement);
      // Queued behind older waiting runs although a slot is free (freed outside the engine):
      // the oldest start now, under the lock still held, rather than at the next sweep.
      if (placement.status === 'pending' && concurrency !== undefined)
        await this.admitWaiting(trx, {
          ownerId: caller.userId,
          workflowName: workflow.name,
          key: concurrency.key,
        });
      return;
    }
    const { fork } = options;
    const startedLog = {
      ownerId: caller.userId,
      runId,
      message: `run started: ${workflow.name}@${workflow.version} (${options.triggerType ?? 'manual'})${fork === undefined ? '' : `, forked from run ${fork.parentRunId} at step ${fork.fromStep}`}`,
    };
    // A fork's reused steps are logged as reused, not as having just completed.
    const reused = Object.entries(steps).filter(([, s]) => s.reused_from !== undefined);
    const before = Object.fromEntries(reused.map(([id, s]) => [id, s.status]));
    const reuseLogs = reused.map(([stepId, s]) => ({
      ownerId: caller.userId,
      runId,
      stepId,
      message: `step ${stepId} ${s.status} (reused from run ${s.reused_from})`,
    }));
    // Planned before the run had its trace context: the first tasks get it now.
    const tasks =
      traceContext === null
        ? prepared.start.tasks
        : prepared.start.tasks.map((task) => ({ ...task, traceContext: runTraceparent(traceContext) }));
    if (tasks.length > 0) await enqueueTasks(trx, dialect, tasks);
    await this.saveOne(trx, run, prepared.start.outcome, before, [startedLog, ...reuseLogs]);
  }

  /** The record of a new run that waits for a slot, or that cancel_newest cancelled at once. */
  private async notStarted(
    trx: Kysely<SwarmDatabase>,
    run: StoredRun & { concurrencyKey: string },
    placement: Exclude<Placement, { status: 'running' }>,
  ): Promise<void> {
    const { dialect } = this.store.handle;
    const label = `${run.workflowName}, concurrency key "${run.concurrencyKey}"`;
    await writeLogs(trx, dialect, [
      placement.status === 'pending'
        ? {
            ownerId: run.ownerId,
            runId: run.id,
            message: `run queued: waiting for a concurrency slot (${label})`,
          }
        : {
            ownerId: run.ownerId,
            runId: run.id,
            level: 'warning',
            message: `run cancelled: ${placement.reason}`,
          },
    ]);
    if (placement.status === 'cancelled')
      await insertEvents(trx, dialect, [
        runEndedEvent(run, { status: 'cancelled', error: placement.reason }),
      ]);
  }

  /**
   * Opens the run of a finished task under its lock, with the step's state and a metric of the
   * attempt; null when there is nothing to do (a standalone task, a run already over).
   */
  private async finishedStep(trx: Kysely<SwarmDatabase>, task: FinishedTask, success: boolean) {
    if (task.runId === null || task.stepId === null) return null;
    const row = await lockRun(trx, this.store.handle.dialect, task.runId);
    if (row === undefined || row.status !== 'running') return null;
    const run = await frameOf(trx, row, this.definitions);
    const state = run.steps[task.stepId];
    if (state === undefined || state.status !== 'running') return null;
    const before = statusesOf(run.steps);
    await writeStepMetrics(trx, this.store.handle.dialect, [
      {
        ownerId: run.ownerId,
        runId: run.id,
        taskId: task.id,
        stepId: task.stepId,
        durationMs: task.durationMs ?? null,
        success,
      },
    ]);
    return { run, state, stepId: task.stepId, runId: task.runId, before };
  }

  /** A handler's task ended (the run itself is over by then): its state and a log line. */
  private async finishedHandler(
    trx: Kysely<SwarmDatabase>,
    task: FinishedTask,
    outcome: { output: unknown } | { error: string },
  ): Promise<boolean> {
    const which = task.runId === null || task.stepId === null ? null : parseHandlerStepId(task.stepId);
    if (which === null) return false;
    const row = await lockRun(trx, this.store.handle.dialect, task.runId!);
    const handlers = fromDbJson<HandlerState[]>(row?.handlers ?? null);
    const handler = handlers?.find((h) => h.kind === which.kind && h.index === which.index);
    if (row === undefined || handlers === null || handler === undefined || handler.status !== 'running')
      return true;
    const now = new Date().toISOString();
    Object.assign(
      handler,
      'error' in outcome
        ? { status: 'failed', error: outcome.error, completed_at: now }
        : { status: 'completed', output: outcome.output ?? null, completed_at: now },
    );
    await trx
      .updateTable('workflow_runs')
      .set({ handlers: toDbJson(handlers), updated_at: now })
      .where('id', '=', row.id)
      .execute();
    await writeLogs(trx, this.store.handle.dialect, [
      {
        ownerId: row.owner_id,
        runId: row.id,
        stepId: task.stepId,
        taskId: task.id,
        level: 'error' in outcome ? 'error' : 'info',
        eventType: 'error' in outcome ? 'error' : 'state_change',
        message: `handler ${task.stepId} ${handler.status}${'error' in outcome ? `: ${outcome.error}` : ''}`,
      },
    ]);
    return true;
  }

  /**
   * The first half of completing steps, before the completion's transaction (the queue's
   * `prepareCompletedBatch`): plans what the batch's runs do next, evaluating their expressions
   * while nothing is locked. See CompletionPlans.
   */
  readonly prepareCompletions = (
    completions: readonly PendingCompletion[],
  ): Promise<CompletionPlans | undefined> =>
    prepareCompletions(
      this.store.handle.db,
      this.store.handle.dialect,
      this.definitions,
      this.limits,
      completions,
    );

  /**
   * The queue's completion hook, for a whole batch of completions in the queue's transaction:
   * each step's output is recorded once and what follows is released. The runs are locked
   * together, and their metrics, log lines, new tasks and run rows are written with one
   * statement each, however many runs the batch touches. A run `prepared` for exactly this
   * (prepareCompletions; its row unchanged since) is written as planned; any other is worked
   * out here.
   */
  readonly onTasksCompleted = async (
    trx: Kysely<SwarmDatabase>,
    tasks: readonly FinishedTask[],
    prepared?: unknown,
  ): Promise<void> => {
    const steps: FinishedTask[] = [];
    for (const task of tasks) {
      if (await this.finishedHandler(trx, task, { output: task.output })) continue;
      if (task.runId !== null && task.stepId !== null) steps.push(task);
    }
    if (steps.length === 0) return;
    const { dialect } = this.store.handle;
    const byRun = new Map<string, FinishedTask[]>();
    for (const task of steps) {
      const list = byRun.get(task.runId!) ?? [];
      list.push(task);
      byRun.set(task.runId!, list);
    }
    const plans = prepared instanceof CompletionPlans ? prepared.runs : undefined;
    const changes: RunChange[] = [];
    const released: NewTask[] = [];
    const metrics: StepMetric[] = [];
    const metricOf = (task: FinishedTask, ownerId: string): StepMetric => ({
      ownerId,
      runId: task.runId!,
      taskId: task.id,
      stepId: task.stepId!,
      durationMs: task.durationMs ?? null,
      success: true,
    });
    const unplanned: Array<{
      run: StoredRun;
      before: Record<string, string>;
      row: LockedRun;
      decided: ConsensusOutcome;
    }> = [];
    const decisions: ConsensusRecord[] = [];
    const now = new Date().toISOString();
    for (const row of await readFrames(trx, dialect, [...byRun.keys()], { lock: true })) {
      if (row.status !== 'running') continue;
      const mine = byRun.get(row.id)!;
      const plan = plans?.get(row.id);
      if (
        plan !== undefined &&
        planMatches(
          plan,
          row,
          mine.map((t) => t.id),
        )
      ) {
        for (const task of mine) if (plan.moved.has(task.id)) metrics.push(metricOf(task, row.owner_id));
        // One push per task: a fan-out's tasks are far too many to spread as arguments.
        for (const task of plan.released) released.push(task);
        decisions.push(...plan.consensus);
        changes.push({
          run: plan.run,
          end: plan.outcome,
          before: plan.before,
          ...(plan.handlerTasks === undefined ? {} : { handlerTasks: plan.handlerTasks }),
        });
        continue;
      }
      // The trigger data is read below, for the runs that release a step or end.
      const run = await frameOf(trx, { ...row, trigger_data: null }, this.definitions);
      const before = statusesOf(run.steps);
      const applied = mine.map((t) => ({ id: t.id, stepId: t.stepId!, output: t.output }));
      const moved = await applyCompletions(run, applied, now, (stepId) =>
        readItemOutputs(trx, row.id, stepId),
      );
      if (moved.size === 0) continue;
      for (const task of mine) if (moved.has(task.id)) metrics.push(metricOf(task, row.owner_id));
      const decided = await decideConsensus(run, before, taskOfStep(applied), memberLookup(trx));
      unplanned.push({ run, before, row, decided });
    }
    await writeStepMetrics(trx, dialect, metrics);
    // Expressions (of the steps released) and handlers (of a run that ends) see the trigger data.
    const moving = unplanned.filter(({ run }) => isMoving(run)).map(({ row }) => row);
    const triggers = await triggersOf(trx, dialect, moving);
    // On a first try, only what evaluates in this thread is worked out under the locks: an
    // expression for an evaluator thread has the queue prepare the batch (prepareCompletions)
    // and record it again.
    const options = { inlineOnly: prepared === PREPARE_ON_REQUEST };
    try {
      for (const entry of unplanned) {
        const run = triggers.has(entry.run.id)
          ? { ...entry.run, trigger: triggers.get(entry.run.id) }
          : entry.run;
        // Never throws for the run's own trouble (an expression that fails): the run fails instead.
        const { outcome, tasks: next } = await planAfterConsensus(run, this.limits, entry.decided, options);
        for (const task of next) released.push(task);
        decisions.push(...entry.decided.records);
        const handlerTasks =
          outcome.status !== 'running' && run.handlers !== null
            ? await planHandlers(run, run.handlers, endingOf(outcome), now, options)
            : undefined;
        changes.push({
          run,
          end: outcome,
          before: entry.before,
          ...(handlerTasks === undefined ? {} : { handlerTasks }),
        });
      }
    } catch (error) {
      if (error instanceof NeedsThreadError) throw new PrepareFirstError(error.message);
      throw error;
    }
    if (released.length > 0) await enqueueTasks(trx, dialect, released);
    await this.save(trx, changes);
    await writeConsensusRecords(trx, dialect, decisions);
  };

  /** The completion hook for one task: see onTasksCompleted. */
  readonly onTaskCompleted = (trx: Kysely<SwarmDatabase>, task: FinishedTask): Promise<void> =>
    this.onTasksCompleted(trx, [task]);

  /** The queue's final-failure hook (retries exhausted, timeout): the step and the run fail. */
  readonly onTaskFailed = async (trx: Kysely<SwarmDatabase>, task: FinishedTask): Promise<void> => {
    if (await this.finishedHandler(trx, task, { error: task.error ?? 'unknown error' })) return;
    const found = await this.finishedStep(trx, task, false);
    if (found === null) return;
    const { run, state, stepId, before } = found;
    const error = `step ${stepId}${task.itemIndex === null ? '' : `[${task.itemIndex}]`} failed: ${task.error ?? 'unknown error'}`;
    Object.assign(state, { status: 'failed', error, completed_at: new Date().toISOString() });
    await this.saveOne(trx, run, { status: 'failed', error, step: stepId }, before);
  };

  /**
   * The queue's lease-loss hook: a run's task whose worker died or stalled goes round again as
   * the same attempt; its run's log says so (the step's state is unchanged: it is still running).
   */
  readonly onLeasesLost = async (trx: Kysely<SwarmDatabase>, tasks: readonly LostLease[]): Promise<void> => {
    await writeLogs(
      trx,
      this.store.handle.dialect,
      tasks.flatMap((task) =>
        task.runId === null
          ? []
          : [
              {
                ownerId: task.ownerId,
                runId: task.runId,
                stepId: task.stepId,
                taskId: task.id,
                level: 'warning' as const,
                message: `step ${task.stepId ?? '?'}${task.itemIndex === null ? '' : `[${task.itemIndex}]`}: lease lost (worker died or stalled), retrying attempt ${task.attempt} (lease loss ${task.leaseLosses} of ${task.maxLeaseLosses})`,
                metadata: {
                  attempt: task.attempt,
                  lease_losses: task.leaseLosses,
                  max_lease_losses: task.maxLeaseLosses,
                },
              },
            ],
      ),
    );
  };

  /**
   * Ends the running runs whose deadline (`timeout_seconds` of the workflow) has passed: they
   * end `timeout`, their running steps fail, their tasks are cancelled (so running attempts are
   * aborted at their next heartbeat) and their on_error handlers run. Any number of processes
   * may sweep at once: on PostgreSQL each takes the runs others have not locked.
   * Returns how many runs timed out.
   */
  async timeOutRuns(now = new Date(), limit = 100): Promise<number> {
    const { db, dialect } = this.store.handle;
    return dialect.writeTransaction(db, async (trx) => {
      let query = trx
        .selectFrom('workflow_runs')
        .selectAll()
        .where('status', '=', 'running')
        .where('timeout_at', 'is not', null)
        .where('timeout_at', '<=', now.toISOString())
        .orderBy('timeout_at')
        .limit(limit);
      if (dialect.capabilities.skipLocked) query = query.forUpdate().skipLocked();
      const rows = await query.execute();
      for (const row of rows) {
        const run = await frameOf(trx, row, this.definitions);
        const before = statusesOf(run.steps);
        const seconds = run.workflow.timeout_seconds ?? 0;
        const at = new Date().toISOString();
        for (const state of Object.values(run.steps)) {
          if (state.status === 'running')
            Object.assign(state, { status: 'failed', error: 'run timed out', completed_at: at });
        }
        await this.saveOne(
          trx,
          run,
          {
            status: 'timeout',
            error: `run timed out after ${seconds} s`,
            step: row.current_step,
          },
          before,
        );
      }
      return rows.length;
    });
  }

  /**
   * Cancels a run: the run ends `cancelled` with who and why, and its pending and running tasks
   * are cancelled (their lease epoch moves on, so a running attempt's heartbeat finds its lease
   * lost and the worker aborts it; its late completion is refused). Handlers do not run for a
   * cancelled run.
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
      await this.cancelLocked(trx, row, actorOf(caller), reason, caller.userId);
      await recordAudit(trx, {
        caller,
        ownerId: row.owner_id,
        action: 'run.cancel',
        resourceType: 'run',
        resourceId: runId,
        metadata: { workflow: row.workflow_name, reason },
      });
      // A running run's slot is free now; a waiting run's cancel frees none.
      if (row.status === 'running' && row.concurrency_key !== null)
        await this.admitWaiting(trx, {
          ownerId: row.owner_id,
          workflowName: row.workflow_name ?? '',
          key: row.concurrency_key,
        });
    });
    return this.getRun(caller, runId);
  }

  /**
   * Ends a locked pending or running run `cancelled`: its waiting handlers are skipped, its tasks
   * cancelled, its end logged and published. `by` is recorded as who cancelled it (a user, or
   * `engine` for cancel_in_progress).
   */
  private async cancelLocked(
    trx: Kysely<SwarmDatabase>,
    row: RunRow,
    by: string,
    reason: string,
    tasksBy = by,
  ): Promise<void> {
    const { dialect } = this.store.handle;
    const runId = row.id;
    const now = new Date().toISOString();
    const handlers = fromDbJson<HandlerState[]>(row.handlers);
    for (const h of handlers ?? [])
      if (h.status === 'waiting') Object.assign(h, { status: 'skipped', completed_at: now });
    await trx
      .updateTable('workflow_runs')
      .set({
        status: 'cancelled',
        cancelled_by: by,
        cancellation_reason: reason,
        completed_at: now,
        updated_at: now,
        ...(handlers === null ? {} : { handlers: toDbJson(handlers) }),
      })
      .where('id', '=', runId)
      .execute();
    await cancelRunTasks(trx, runId, tasksBy, reason, now);
    await writeLogs(trx, dialect, [
      {
        ownerId: row.owner_id,
        runId,
        level: 'warning',
        message: `run cancelled by ${tasksBy}: ${reason}`,
      },
    ]);
    const run = {
      id: runId,
      ownerId: row.owner_id,
      workflowName: row.workflow_name ?? '',
      attempt: row.attempt,
      eventDepth: row.event_depth,
    };
    await insertEvents(trx, dialect, [runEndedEvent(run, { status: 'cancelled', error: reason })]);
    endRunSpan(row.trace_context, { runId, ...run, status: 'cancelled', error: reason });
    if (row.started_at !== null)
      instruments.runDuration.observe(
        { workflow: labelOf(row.workflow_name), status: 'cancelled' },
        Math.max(0, Date.parse(now) - Date.parse(row.started_at)) / 1000,
      );
  }

  /**
   * Retries a failed (or cancelled, or timed-out) run as attempt n+1 of the same run. With
   * `fromFailed`, completed steps keep their outputs and only the failed steps and those never
   * reached run again; without it, every step runs again from the start. Handlers run again at
   * the end, and the run's deadline starts over.
   */
  async retryRun(caller: Caller, runId: string, options: { fromFailed?: boolean } = {}): Promise<RunView> {
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
      const run = await frameOf(trx, row, this.definitions);
      const reset: string[] = [];
      for (const [stepId, state] of Object.entries(run.steps)) {
        if (state.status === 'pending') continue;
        if (!options.fromFailed || state.status === 'failed' || state.status === 'running') {
          reset.push(stepId);
          for (const key of ['error', 'output', 'items', 'started_at', 'completed_at'] as const)
            delete state[key];
          state.status = 'pending';
        }
      }
      // Kept steps are not logged again; reset ones are logged as they run.
      const before = statusesOf(run.steps);
      const handlers = run.handlers?.map((h): HandlerState => ({
        kind: h.kind,
        index: h.index,
        agent: h.agent,
        version: h.version,
        status: 'waiting',
      }));
      // Tasks of the reset steps and of the handlers stay as the record of attempt n, renamed
      // `<step>@<n>` ('@' cannot occur in a step id) so a fan-in does not gather them again.
      const renamed = [...reset, ...(handlers ?? []).map((h) => handlerStepId(h.kind, h.index))];
      const now = new Date().toISOString();
      // Attempt n+1 is a span of its own (attempt n's was recorded when it ended), in the trace of
      // the request that retries it.
      const traceContext = newRunTrace(Date.parse(now));
      const retried: StoredRun = {
        ...run,
        attempt: row.attempt + 1,
        handlers: handlers ?? null,
        traceContext,
      };
      // A retry takes a concurrency slot like a new run; under cancel_newest a full key refuses it.
      const placement: Placement =
        row.concurrency_key === null
          ? { status: 'running' }
          : await this.place(
              trx,
              { ownerId: row.owner_id, workflowName: row.workflow_name ?? '', key: row.concurrency_key },
              {
                limit: row.concurrency_limit ?? 1,
                strategy: run.workflow.concurrency?.strategy ?? 'queue',
              },
              runId,
            );
      if (placement.status === 'cancelled')
        throw new SwarmError('CONFLICT', `run ${runId} cannot be retried now: ${placement.reason}`);
      const waits = placement.status === 'pending';
      await trx
        .updateTable('workflow_runs')
        .set({
          status: placement.status,
          ...(waits
            ? {
                step_results: await storeSteps(
                  { db: trx, dialect: this.store.handle.dialect },
                  { runId, ownerId: row.owner_id },
                  retried.steps,
                ),
              }
            : {}),
          attempt: retried.attempt,
          error: null,
          error_step: null,
          completed_at: null,
          cancelled_by: null,
          cancellation_reason: null,
          result: null,
          updated_at: now,
          timeout_at: waits ? null : deadline(run.workflow, now),
          trace_context: traceContext,
          ...(handlers === undefined ? {} : { handlers: toDbJson(handlers) }),
        })
        .where('id', '=', runId)
        .execute();
      if (renamed.length > 0) {
        await trx
          .updateTable('tasks')
          .set({ step_id: sql<string>`step_id || ${`@${row.attempt}`}` })
          .where('run_id', '=', runId)
          .where('step_id', 'in', renamed)
          .execute();
      }
      await writeLogs(trx, this.store.handle.dialect, [
        {
          ownerId: row.owner_id,
          runId,
          message: `run retried as attempt ${retried.attempt}${options.fromFailed ? ' from its failed step' : ' from the start'}${waits ? `; waiting for a concurrency slot of key "${row.concurrency_key}"` : ''}`,
        },
      ]);
      if (!waits)
        await this.saveOne(trx, retried, await releaseReadySteps(trx, dialect, retried, this.limits), before);
      await recordAudit(trx, {
        caller,
        ownerId: row.owner_id,
        action: 'run.retry',
        resourceType: 'run',
        resourceId: runId,
        metadata: {
          workflow: row.workflow_name,
          attempt: retried.attempt,
          fromFailed: options.fromFailed ?? false,
        },
      });
    });
    return this.getRun(caller, runId);
  }

  /**
   * Forks a run the caller owns into a new run (docs/replay.md): on the original's version, or
   * `version` (`latest` or a given one), with the original's input unless `input` is given. The
   * steps that do not depend on `fromStep` reuse the original's records without running (see
   * planFork); `fromStep` and its dependents run, their tasks carrying the root run of the fork
   * chain for their idempotency keys. A run still going may be forked: only what it finished is
   * reused. Returns the new run's id.
   */
  async forkRun(
    caller: Caller,
    runId: string,
    options: ForkRunOptions,
    registry: {
      agents: AgentRegistry;
      workflows: { get(name: string, version?: string): Promise<WorkflowView> };
    },
  ): Promise<string> {
    const row = await this.ownedRun(caller, runId);
    const source = {
      id: row.id,
      version: row.workflow_version ?? '',
      workflow: this.definitions.get(row.workflow_id)!,
      steps: await loadSteps(this.store.handle.db, row.step_results),
    };
    const name = row.workflow_name ?? source.workflow.name;
    const target = await registry.workflows.get(
      name,
      options.version === 'latest' ? undefined : (options.version ?? source.version),
    );
    const { fromStep } = options;
    if (!target.workflow.steps.some((s) => s.id === fromStep))
      throw new InputError('fromStep', `${name}@${target.version} has no step "${fromStep}"`);
    const plan = planFork(source, target.workflow, fromStep);
    if (plan.differences.length > 0) {
      const issues = [...plan.differences];
      throw new SwarmError(
        'FORK_MISMATCH',
        `cannot fork run ${runId} from ${fromStep} on ${name}@${target.version}: ${issues
          .slice(0, 5)
          .map((i) => `${i.field} ${i.message}`)
          .join('; ')}${issues.length > 5 ? `; and ${issues.length - 5} more` : ''}`,
        { issues, context: { run: runId, fromStep, version: target.version } },
      );
    }
    const resolver = registry.agents.resolver();
    for (const id of plan.rerun) {
      const step = target.workflow.steps.find((s) => s.id === id)!;
      if (step.agent === undefined) continue;
      const resolved = await resolver.resolve(step.agent.name, step.agent.range);
      if (resolved === null)
        throw new SwarmError(
          'CONFLICT',
          `step ${id}: no usable version of ${step.agent.name} satisfies ${step.agent.range} any more`,
        );
      plan.steps[id]!.agent_version = resolved.version;
    }
    const { db: reader } = this.store.handle;
    const input = options.input === undefined ? await loadJson(reader, row.input) : options.input;
    const fork: ForkLink = { parentRunId: row.id, fromStep, originalRunId: row.original_run_id ?? row.id };
    const prepared = await this.planStart(
      newId(),
      caller,
      this.startable(target),
      plan.steps,
      await pinHandlers(target.workflow, registry.agents),
      {
        input: input ?? {},
        triggerData: options.input === undefined ? await loadJson(reader, row.trigger_data) : options.input,
        triggerType: 'manual',
        fork,
      },
    );
    const { db, dialect } = this.store.handle;
    await dialect.writeTransaction(db, async (trx) => {
      await this.insertRun(trx, prepared);
      await recordAudit(trx, {
        caller,
        action: 'run.fork',
        resourceType: 'run',
        resourceId: prepared.id,
        metadata: {
          workflow: name,
          version: target.version,
          parent: row.id,
          fromStep,
          reused: plan.reused,
          newInput: options.input !== undefined,
        },
      });
    });
    return prepared.id;
  }

  /** The caller's runs, newest first. */
  async listRuns(caller: Caller, filters: RunFilters = {}): Promise<RunView[]> {
    return (await this.listRunPage(caller, filters)).items;
  }

  /** A page of the caller's runs, newest first; `next` (when there may be more) is the cursor of the next page. */
  async listRunPage(
    caller: Caller,
    filters: RunFilters = {},
  ): Promise<{ items: RunView[]; next: string | null }> {
    const limit = filters.limit ?? 50;
    const query = applyRunFilters(
      this.store.handle.db.selectFrom('workflow_runs').selectAll().where('owner_id', '=', caller.userId),
      filters,
    );
    const rows = await query
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    await this.loadDefinitions(page.map((r) => r.workflow_id));
    const usage = await readRunUsage(this.store.handle.db, page);
    return {
      items: page.map((row) => viewOfRun(row, this.definitions.get(row.workflow_id), usage.get(row.id))),
      next:
        rows.length > limit && last !== undefined
          ? encodeCursor({ createdAt: last.created_at, id: last.id })
          : null,
    };
  }

  /** Reads the definitions not cached yet (a stored version never changes), in one query. */
  private async loadDefinitions(workflowIds: readonly string[]): Promise<void> {
    const missing = [...new Set(workflowIds)].filter((id) => !this.definitions.has(id));
    if (missing.length === 0) return;
    const rows = await this.store.handle.db
      .selectFrom('workflows')
      .select(['id', 'steps'])
      .where('id', 'in', missing)
      .execute();
    for (const row of rows) {
      const workflow = fromDbJson<NormalizedWorkflow>(row.steps);
      if (workflow !== null) this.definitions.set(row.id, workflow);
    }
  }

  /** The caller's run row, its definition loaded; NotFoundError for anyone else's. */
  private async ownedRun(caller: Caller, runId: string) {
    const row = await this.store.handle.db
      .selectFrom('workflow_runs')
      .selectAll()
      .where('id', '=', runId)
      .where('owner_id', '=', caller.userId)
      .executeTakeFirst();
    if (row === undefined) throw new NotFoundError('run', runId);
    await this.loadDefinitions([row.workflow_id]);
    return row;
  }

  /** A run with its steps, if the caller owns it. */
  async getRun(caller: Caller, runId: string): Promise<RunView> {
    const row = await this.ownedRun(caller, runId);
    const usage = await readRunUsage(this.store.handle.db, [row]);
    const consensus = await readConsensus(this.store.handle.db, caller.userId, runId);
    const [waiting, forks] = await Promise.all([
      readWaiting(this.store.handle.db, caller.userId, runId),
      readForks(this.store.handle.db, caller.userId, runId),
    ]);
    const { db } = this.store.handle;
    const values: RunValues = {
      steps: await viewedSteps(db, row.step_results),
      result: await viewJson(db, row.result),
      triggerData: await viewJson(db, row.trigger_data),
    };
    return {
      ...viewOfRun(row, this.definitions.get(row.workflow_id), usage.get(row.id), values),
      consensus,
      waiting,
      forks,
    };
  }

  /** The consensus decisions of a run the caller owns, oldest first. */
  async listConsensus(caller: Caller, runId: string): Promise<ConsensusView[]> {
    const run = await this.store.handle.db
      .selectFrom('workflow_runs')
      .select('id')
      .where('id', '=', runId)
      .where('owner_id', '=', caller.userId)
      .executeTakeFirst();
    if (run === undefined) throw new NotFoundError('run', runId);
    return readConsensus(this.store.handle.db, caller.userId, runId);
  }
}

/** A run as the API shows it, its steps in the definition's order (see `inStepOrder`). */
function viewOfRun(
  row: RunRow,
  workflow: NormalizedWorkflow | undefined,
  usage?: RunUsage,
  values: RunValues = listedValues(row),
): RunView {
  return {
    id: row.id,
    workflow: row.workflow_name ?? '',
    version: row.workflow_version ?? '',
    status: row.status,
    attempt: row.attempt,
    steps: stepViews(inStepOrder(values.steps, workflow), usage),
    result: values.result,
    error: row.error,
    errorStep: row.error_step,
    startedAt: row.started_at,
    completedAt: row.completed_at,
    durationMs: row.duration_ms,
    ...runTotals(row, usage),
    timeoutAt: row.timeout_at,
    concurrencyKey: row.concurrency_key,
    cancelledBy: row.cancelled_by,
    cancellationReason: row.cancellation_reason,
    parentRunId: row.parent_run_id,
    isReplay: Boolean(row.is_replay),
    forkedFromStep: row.forked_from_step,
    originalRunId: row.original_run_id,
    handlers: fromDbJson<HandlerState[]>(row.handlers) ?? [],
    trigger: {
      type: row.trigger_type ?? 'manual',
      id: row.trigger_id,
      startedBy: row.started_by,
      data: values.triggerData,
    },
  };
}

/** A run's values as a view shows them: see run-values.ts. */
interface RunValues {
  readonly steps: RunSteps;
  readonly result: unknown;
  readonly triggerData: unknown;
}

/** In a list of runs, a large value is a reference with the URL to fetch it. */
const listedValues = (row: RunRow): RunValues => ({
  steps: listedSteps(row.step_results),
  result: viewStored(fromDbJson(row.result)),
  triggerData: viewStored(fromDbJson(row.trigger_data)),
});

export interface RunView {
  readonly id: string;
  readonly workflow: string;
  readonly version: string;
  readonly status: string;
  readonly attempt: number;
  /** Each step's state, with its duration and the LLM tokens and cost of its attempts. */
  readonly steps: Record<string, StepView>;
  readonly result: unknown;
  readonly error: string | null;
  readonly errorStep: string | null;
  readonly startedAt: string | null;
  readonly completedAt: string | null;
  readonly durationMs: number | null;
  /** LLM tokens of every step (input and output where the providers said) and their cost. */
  readonly tokens: TokenCounts;
  readonly cost: number;
  /** The run's deadline, if its workflow sets `timeout_seconds`. */
  readonly timeoutAt: string | null;
  /**
   * Its workflow's `concurrency.key` value ("" for a workflow-wide key); null without
   * `concurrency`. A `pending` run with a key is waiting for a slot.
   */
  readonly concurrencyKey: string | null;
  /** Who cancelled it (a user, or `engine` for a concurrency strategy), and why. */
  readonly cancelledBy: string | null;
  readonly cancellationReason: string | null;
  /** Its on_error / on_success handlers and how they went. */
  readonly handlers: readonly HandlerState[];
  /** Its consensus decisions (one a consensus step), in a run read on its own (getRun). */
  readonly consensus?: readonly ConsensusView[];
  /** What its steps wait for now (approvals, events, sleeps), in a run read on its own (getRun). */
  readonly waiting?: readonly WaitingView[];
  /** The run it was forked from (null: none, or that run was deleted), and from which step. */
  readonly parentRunId: string | null;
  readonly isReplay: boolean;
  readonly forkedFromStep: string | null;
  /** The root of its fork chain, whose idempotency keys its steps' side effects carry. */
  readonly originalRunId: string | null;
  /** The runs forked from it, oldest first, in a run read on its own (getRun). */
  readonly forks?: readonly ForkView[];
  /** What started it: the trigger type and id, or (manual) the user who did; its trigger data. */
  readonly trigger: {
    readonly type: string;
    readonly id: string | null;
    readonly startedBy: string | null;
    readonly data: unknown;
  };
}
