import { resolveStored } from '../blobs/index.js';
import os from 'node:os';
import type { Logger } from 'pino';
import type { Engine } from '../engine/index.js';
import { isSwarmError } from '../errors/index.js';
import {
  claimTasks,
  completeTasks,
  type Completion,
  failTask,
  reclaimExpiredLeases,
  releaseTasks,
  renewLeases,
  sleepTask,
  checkpointTask,
  childTasksOf,
  countRunChildTasks,
  TASKS_CHANNEL,
  noteAnnouncedWork,
  type ClaimedTask,
} from '../queue/index.js';
import {
  RuntimeError,
  Sleep,
  type AgentReport,
  type EmittedEvent,
  type EventSink,
  type LogLevel,
  type Runtime,
} from '../runtimes/index.js';
import { Redactor, type SecretsService } from '../secrets/index.js';
import { newId, type Store } from '../storage/index.js';
import { markSilentAgents, recordOutcomes } from '../routing/index.js';
import { AgentLookup, invokedAgent } from './agents.js';
import { outcomeHooks } from './hooks.js';
import { ExecutionLogWriter } from './logs.js';
import { ReportWriter, type ReportWriterOptions } from './reports.js';
import { conversationRows } from './conversation.js';
import { readWaitpoint } from './waitpoints.js';
import { AttemptAbort, AttemptContext, AttemptInvocation } from './attempt.js';
import { AttemptSecrets, SecretsUnavailable } from './secrets.js';
import { agentLabel, type AttemptEnd } from './attempt-end.js';
import { startAttemptSpan, type AttemptSpan } from '../telemetry/index.js';
import { instruments, labelOf } from '../metrics/index.js';

export interface WorkerOptions {
  readonly store: Store;
  readonly engine: Engine;
  /** Runs the agents (createWorker's DispatchRuntime: builtin and process runtimes). */
  readonly runtime: Runtime;
  readonly events: EventSink;
  readonly logger: Logger;
  /**
   * Resolves the secrets an agent's `secret:NAME` permissions grant (createWorker builds it
   * from the keyring). Without it, an attempt of an agent granted a secret fails.
   */
  readonly secrets?: SecretsService;
  /**
   * Lines a runtime logs for one attempt that go to the run's execution log; past this, one
   * warning says the rest were not kept (they still reach the worker's logger). @default 10000
   */
  readonly maxLogLinesPerAttempt?: number;
  /** Child tasks one run's tasks may start in all (agent loops' tool calls). @default 1000 */
  readonly maxChildTasksPerRun?: number;
  /**
   * Where the artifacts agents report are kept (createWorker: `home` is SWARM_HOME) and their
   * limits. @default no home: artifacts over the inline limit are refused
   */
  readonly reports?: Partial<ReportWriterOptions>;
  /** @default `<hostname>:<pid>:<random>` */
  readonly workerId?: string;
  /** What the worker releases once it has stopped (its MCP connections and their programs). */
  readonly closeOnStop?: readonly { close(): Promise<void> }[];
  /** Tasks run at once. @default 16 */
  readonly concurrency?: number;
  /** How long a claim holds without a heartbeat. @default 30000 */
  readonly leaseMs?: number;
  /** Leases a task may lose (its worker died or stalled) before it fails. @default 3 */
  readonly maxLeaseLosses?: number;
  /** How often an idle worker looks for work when nothing wakes it. @default 250 */
  readonly pollMs?: number;
  /** Capability routing gives no work to agents trusted less than this. @default 0.2 */
  readonly trustThreshold?: number;
  /**
   * Remote (http) agents silent for this many seconds are marked inactive by a sweep every 5 s.
   * @default 90
   */
  readonly agentSilentAfterSeconds?: number;
  /** Hears how each attempt ended (`swarm worker` prints a line per task). */
  readonly onAttemptEnded?: (end: AttemptEnd) => void;
}

interface InFlight {
  readonly task: ClaimedTask;
  readonly abort: AttemptAbort;
  readonly started: number;
}

/**
 * Claims tasks, runs them, and reports the outcome through the queue with the engine's hooks,
 * so a step's result and the release of what follows it commit together. Heartbeats renew the
 * leases (a lease found lost aborts its attempt: that is how cancellation reaches a running
 * task); expired leases of dead workers are reclaimed.
 */
export class Worker {
  readonly workerId: string;
  private readonly concurrency: number;
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly agents: AgentLookup;
  private readonly secrets: AttemptSecrets;
  private readonly logs: ExecutionLogWriter;
  private readonly reports: ReportWriter;
  private readonly maxLogLines: number;
  private readonly inFlight = new Map<string, InFlight>();
  /** Slots promised to a claim under way: the claim loop's, or a completion batch's (eager). */
  private reserved = 0;
  /** Attempts running that were claimed on completion (src/queue/eager.ts). */
  private eagerHeld = 0;
  /** Of `reserved`, the slots a completion batch under way may take. */
  private eagerReserved = 0;
  /**
   * Whether completion batches should get their share of free slots from the claim loop: the
   * last batch completed run steps (standalone tasks release nothing), and the last one with
   * room took something (when it did not — the next steps wait on keys, say — it is tried again
   * a second later).
   */
  private runStepsCompleting = false;
  private eagerTook = true;
  private eagerRetryAt = 0;
  /** Finished attempts whose completion is not yet written, oldest first. */
  private readonly completions: FinishedAttempt[] = [];
  /** The batches of completions being written, each until its transaction ends. */
  private readonly recording = new Map<readonly FinishedAttempt[], Promise<void>>();
  /** Batches written at once: see flush. */
  private readonly maxRecording: number;
  private retryTimer: NodeJS.Timeout | null = null;
  private flushScheduled = false;
  private running = false;
  private wake: (() => void) | null = null;
  private woken = false;
  private loop: Promise<void> | null = null;
  private timers: NodeJS.Timeout[] = [];
  private unlisten: Promise<(() => Promise<void>) | null> = Promise.resolve(null);

  constructor(private readonly options: WorkerOptions) {
    this.workerId = options.workerId ?? `${os.hostname()}:${process.pid}:${newId().slice(-8)}`;
    this.concurrency = options.concurrency ?? 16;
    this.leaseMs = options.leaseMs ?? 30_000;
    this.pollMs = options.pollMs ?? 250;
    this.agents = new AgentLookup(options.store, { trustThreshold: options.trustThreshold });
    this.secrets = new AttemptSecrets(options.store, options.secrets);
    this.logs = new ExecutionLogWriter(options.store, options.logger);
    this.reports = new ReportWriter(options.store, options.logger, { home: null, ...options.reports });
    this.maxLogLines = options.maxLogLinesPerAttempt ?? 10_000;
    this.maxRecording = options.store.handle.dialect.capabilities.skipLocked ? 2 : 1;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const hooks = this.hooks();
    // At least every second: a cancelled task's lease epoch moves on, and the heartbeat is how a
    // running attempt learns it and is aborted.
    this.timers.push(
      setInterval(() => void this.heartbeat(), Math.max(50, Math.min(1000, this.leaseMs / 3))),
    );
    // A process that stalled (a long GC, a blocked event loop, a slow database) does not take
    // its own live tasks away from itself when it wakes: it renews first, and its reclaim
    // spares what it still holds however late the renewal came. Only a worker that is gone
    // loses its tasks, to the others' reclaims.
    this.timers.push(
      setInterval(
        () => {
          this.heartbeat()
            .then(() =>
              this.running
                ? reclaimExpiredLeases(
                    this.options.store.handle,
                    new Date(),
                    hooks,
                    this.options.maxLeaseLosses,
                    { workerId: this.workerId, taskIds: this.liveTaskIds() },
                  )
                : [],
            )
            .then(
              (ids) => ids.length > 0 && this.notify(),
              (error: unknown) => this.options.logger.error({ err: error }, 'reclaiming leases failed'),
            );
        },
        Math.max(100, this.leaseMs / 2),
      ),
    );
    // Run deadlines: every worker sweeps, each run is timed out once (the sweep locks it).
    this.timers.push(
      setInterval(() => {
        this.options.engine.timeOutRuns().then(
          (n) => n > 0 && this.notify(),
          (error: unknown) => this.options.logger.error({ err: error }, 'timing out runs failed'),
        );
      }, 500),
    );
    // Runs waiting for a concurrency slot start when a run of their key ends, in that same
    // transaction; this sweep is the safety net for a slot freed some other way.
    this.timers.push(
      setInterval(() => {
        this.options.engine.admitWaitingRuns().then(
          (n) => n > 0 && this.notify(),
          (error: unknown) =>
            this.options.logger.error({ err: error }, 'starting runs waiting for concurrency slots failed'),
        );
      }, 5000),
    );
    // Remote agents that stopped sending heartbeats leave routing (docs/runtimes.md).
    this.timers.push(
      setInterval(() => {
        markSilentAgents(this.options.store, new Date(), this.options.agentSilentAfterSeconds ?? 90).then(
          (marked) => {
            for (const agent of marked)
              this.options.logger.warn(
                agent,
                `agent ${agent.name}@${agent.version} is silent: marked inactive`,
              );
          },
          (error: unknown) => this.options.logger.error({ err: error }, 'marking silent agents failed'),
        );
      }, 5000),
    );
    this.loop = this.claimLoop();
    // Work other processes queue or put back wakes this worker at once on PostgreSQL; polling
    // stays as the fallback.
    this.unlisten = this.options.store.handle
      .listen(TASKS_CHANNEL, (payload) => {
        noteAnnouncedWork(payload);
        this.notify();
      })
      .catch((error: unknown) => {
        this.options.logger.warn({ err: error }, 'LISTEN failed; falling back to polling');
        return null;
      });
  }

  /** Work may be waiting: look now instead of at the next poll. */
  notify(): void {
    // A wake-up that arrives while a claim is in flight must not be lost: remember it, and the
    // loop skips its next sleep.
    this.woken = true;
    this.wake?.();
  }

  /** Resolves once this worker listens for new-task notifications (or knows it cannot). */
  async listening(): Promise<void> {
    await this.unlisten;
  }

  /** Stops claiming, lets running tasks finish for `graceMs`, then hands the rest back. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.notify();
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    await (
      await this.unlisten
    )?.();
    await this.loop;
    const deadline = Date.now() + graceMs;
    while (this.inFlight.size > 0 && Date.now() < deadline) await sleep(20);
    const left = [...this.inFlight.values()];
    for (const entry of left) entry.abort.abort(new Error('worker stopping'));
    // Completions waiting for a database retry get one last attempt now.
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    await this.flush();
    await this.logs.flush();
    await this.reports.flush();
    if (left.length > 0)
      await releaseTasks(
        this.options.store.handle,
        this.workerId,
        left.map((e) => e.task.id),
      );
    this.inFlight.clear();
    for (const resource of this.options.closeOnStop ?? []) await resource.close().catch(() => undefined);
  }

  /** Free slots completion batches may still take: half the slots at most (src/queue/eager.ts). */
  private eagerShare(): number {
    return Math.max(0, Math.floor(this.concurrency / 2) - this.eagerHeld - this.eagerReserved);
  }

  private hooks() {
    return outcomeHooks(this.options.store, this.options.engine);
  }

  private async claimLoop(): Promise<void> {
    while (this.running) {
      // While runs go on by claim on complete, their completion batches get their share of free
      // slots (at most half); the queue's claims get the rest.
      const share =
        this.runStepsCompleting && (this.eagerTook || Date.now() >= this.eagerRetryAt)
          ? this.eagerShare()
          : 0;
      const room = this.recordingFallsBehind()
        ? 0
        : Math.max(0, this.concurrency - this.inFlight.size - this.reserved - share);
      const batch = Math.ceil((this.concurrency - share) / 2);
      let claimed: ClaimedTask[] = [];
      // Claim in batches: wait until half the slots are free rather than claiming one task per
      // finished task, which would turn one round trip per batch into one per task.
      if (room > 0 && (this.inFlight.size === 0 || room >= batch)) {
        this.reserved += room;
        try {
          claimed = await claimTasks(this.options.store.handle, {
            workerId: this.workerId,
            limit: room,
            leaseMs: this.leaseMs,
          });
        } catch (error) {
          this.options.logger.error({ err: error }, 'claiming tasks failed');
        } finally {
          this.reserved -= room;
        }
      }
      for (const task of claimed) this.run(task);
      const wantsSleep = claimed.length === 0 || claimed.length === room || room < batch;
      if (wantsSleep && !this.woken) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(
            resolve,
            claimed.length === 0 && this.inFlight.size === 0 ? this.pollMs : 5,
          );
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = null;
      }
      this.woken = false;
    }
  }

  private run(task: ClaimedTask, claimedOnCompletion = false): void {
    const abort = new AttemptAbort();
    if (claimedOnCompletion) this.eagerHeld++;
    this.inFlight.set(task.id, { task, abort, started: Date.now() });
    // The attempt's span (tracing on; null otherwise), a child of its run's span.
    const span = startAttemptSpan(task);
    const attempt =
      span === null ? this.execute(task, abort, null) : span.run(() => this.execute(task, abort, span));
    void attempt.finally(() => {
      span?.end();
      if (claimedOnCompletion) this.eagerHeld--;
      this.inFlight.delete(task.id);
      this.notify();
    });
  }

  private async execute(task: ClaimedTask, abort: AttemptAbort, span: AttemptSpan | null): Promise<void> {
    const started = Date.now();
    // Built once the secrets are known: everything the attempt produces passes through it.
    let redactor = Redactor.none;
    let agentRan = false;
    let ranAgent: { name: string; version: string } | null = null;
    const ended = (status: AttemptEnd['status'], failure?: { error: string; retryable: boolean }) => {
      span?.ended(
        status,
        failure === undefined ? undefined : { ...failure, error: redactor.redactText(failure.error) },
      );
      // Metrics (src/metrics): in memory, by agent name — never the task's id.
      instruments.taskDuration.observe(
        { agent: labelOf(ranAgent?.name ?? task.agent?.name ?? task.capability), status },
        (Date.now() - started) / 1000,
      );
      this.options.onAttemptEnded?.({
        taskId: task.id,
        runId: task.runId,
        stepId: task.stepId,
        agent: agentLabel(ranAgent, task),
        attempt: task.attempt,
        status,
        durationMs: Date.now() - started,
        ...(failure === undefined
          ? {}
          : { error: redactor.redactText(failure.error), retryable: failure.retryable }),
      });
    };
    const fail = async (error: string, retryable: boolean, timedOut = false) => {
      ended('failed', { error, retryable });
      // The attempt's log lines (and reports) go ahead of the engine's "step … failed".
      await this.logs.flush();
      await this.reports.flush();
      const { dialect } = this.options.store.handle;
      await failTask(
        this.options.store.handle,
        { id: task.id, leaseEpoch: task.leaseEpoch, error: redactor.redactText(error), retryable, timedOut },
        {
          ...this.hooks(),
          // The agent's trust moves in the failure's transaction, if the agent ran at all.
          ...(agentRan
            ? {
                onAttemptFailed: async (trx) => {
                  await recordOutcomes(trx, dialect, [
                    { taskId: task.id, result: timedOut ? 'timeout' : 'failed' },
                  ]);
                },
              }
            : {}),
        },
      ).catch((e: unknown) => {
        this.options.logger.error({ err: e, task: task.id }, 'recording a failure failed');
      });
    };
    // The agent the task names, or the one capability routing picks for this attempt.
    const resolved = await this.agents.forTask(task).catch((e: unknown) => ({
      error: `routing failed: ${(e as Error).message}`,
      retryable: true,
    }));
    if ('error' in resolved) {
      await fail(resolved.error, resolved.retryable);
      return;
    }
    const agent = resolved.agent;
    ranAgent = agent;
    span?.agent(agent.name, agent.version);
    let secrets: Record<string, string>;
    try {
      secrets = await this.secrets.resolve(task, agent);
    } catch (error) {
      if (error instanceof SecretsUnavailable) await fail(error.message, error.retryable);
      else await fail(`resolving secrets failed: ${(error as Error).message}`, true);
      return;
    }
    if (Object.keys(secrets).length > 0) redactor = new Redactor(secrets);
    const timeoutMs = (task.timeoutSeconds ?? agent.timeoutSeconds) * 1000;
    // The attempt's one AttemptAbort also carries its timeout: AbortSignal.timeout + any cost a
    // timer, a combined signal and weak-reference bookkeeping per task, which a worker running
    // thousands of short tasks a second pays for in garbage collection.
    let timedOut = false;
    const timer =
      timeoutMs <= MAX_TIMER_MS
        ? setTimeout(() => {
            if (abort.aborted) return; // cancelled or lost first: that is the reason
            timedOut = true;
            abort.abort(new DOMException(`attempt exceeded ${timeoutMs} ms`, 'TimeoutError'));
          }, timeoutMs).unref()
        : undefined;
    const attemptLog = this.attemptLog(task, redactor);
    agentRan = true;
    let recorder: ((item: AgentReport) => void) | undefined;
    try {
      const output = await this.options.runtime.execute(
        new AttemptInvocation(
          task,
          invokedAgent(agent),
          // A large input is a reference to a blob: the agent gets the value itself.
          await resolveStored(this.options.store.handle.db, task.input),
        ),
        new AttemptContext(
          abort,
          {
            events: redactor.active ? redactedEvents(this.options.events, redactor) : this.options.events,
            log: attemptLog,
            // The recorder is made for the attempts that report something (LLM and process agents).
            report: (item) =>
              (recorder ??= this.reports.recorder(
                {
                  ownerId: task.ownerId,
                  runId: task.runId,
                  stepId: task.stepId,
                  taskId: task.id,
                  attempt: task.attempt,
                  agent: { name: agent.name, version: agent.version },
                },
                redactor,
                attemptLog,
              ))(item),
            childTasks: () => childTasksOf(this.options.store.handle, task.ownerId, task.id),
            waitpoint: (key) => readWaitpoint(this.options.store.handle, task, key),
            checkpoint: (state, entries) =>
              checkpointTask(this.options.store.handle, {
                id: task.id,
                leaseEpoch: task.leaseEpoch,
                state: redactor.redact(state),
                messages: conversationRows(task, entries, redactor),
              }),
          },
          secrets,
        ),
      );
      if (abort.aborted && !timedOut) return; // cancelled or lost: the queue refuses the result anyway
      if (output instanceof Sleep) {
        await this.checkChildTaskCap(task, output);
        ended('sleeping');
        await this.sleep(task, output, redactor);
        return;
      }
      ended('completed');
      const finishedAt = Date.now();
      this.completions.push({
        finishedAt,
        completion: {
          id: task.id,
          leaseEpoch: task.leaseEpoch,
          output: redactor.redact(output),
          durationMs: finishedAt - started,
          runId: task.runId,
          stepId: task.stepId,
          itemIndex: task.itemIndex,
        },
      });
      this.scheduleFlush();
    } catch (error) {
      if (timedOut) await fail(`TIMEOUT: attempt exceeded ${timeoutMs} ms`, true, true);
      else if (abort.aborted) return;
      else await fail((error as Error).message, isSwarmError(error) ? error.retryable : true);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * An attempt's `context.log`: each line redacted, then to the worker's logger and, for a
   * run's task, to the run's execution log (at most maxLogLines lines per attempt).
   */
  private attemptLog(
    task: ClaimedTask,
    redactor: Redactor,
  ): (level: LogLevel, message: string, metadata?: Record<string, unknown>) => void {
    let kept = 0;
    return (level, message, metadata) => {
      const text = redactor.redactText(message);
      const data = metadata === undefined ? {} : redactor.redact(metadata);
      this.options.logger[level === 'warning' ? 'warn' : level]({ task: task.id, ...data }, text);
      if (task.runId === null) return;
      const line = { ownerId: task.ownerId, runId: task.runId, stepId: task.stepId, taskId: task.id };
      if (kept < this.maxLogLines) {
        this.logs.push({ ...line, level, message: text, metadata: { ...data, attempt: task.attempt } });
      } else if (kept === this.maxLogLines) {
        this.logs.push({
          ...line,
          level: 'warning',
          message: `more than ${this.maxLogLines} log lines: the rest of this attempt's lines are not kept`,
          metadata: { attempt: task.attempt },
        });
      }
      kept++;
    };
  }

  /** Refuses a sleep whose children would take the run past its cap on child tasks. */
  private async checkChildTaskCap(task: ClaimedTask, request: Sleep): Promise<void> {
    if (request.children.length > 0 && task.runId !== null) {
      const cap = this.options.maxChildTasksPerRun ?? 1000;
      const started = await countRunChildTasks(this.options.store.handle, task.ownerId, task.runId);
      // Refused before anything starts: the attempt fails (no retry) with the cap in its error.
      if (started + request.children.length > cap)
        throw new RuntimeError(
          'AGENT_LOOP_LIMIT',
          `the run has started ${started} child tasks (tool calls) and this step asks for ${request.children.length} more; a run may start at most ${cap} (SWARM_MAX_CHILD_TASKS_PER_RUN)`,
          { retryable: false, context: { reason: 'MAX_CHILD_TASKS' } },
        );
    }
  }

  /**
   * The runtime asked to carry on later (builtin/delay): the task goes back on the queue until
   * then, and this attempt's slot is free as soon as this returns.
   */
  private async sleep(task: ClaimedTask, request: Sleep, redactor: Redactor): Promise<void> {
    await sleepTask(this.options.store.handle, {
      id: task.id,
      leaseEpoch: task.leaseEpoch,
      until: request.until,
      state: redactor.redact(request.state),
      ...(request.waitpoint === undefined
        ? {}
        : {
            waitpoint: {
              owner: { ownerId: task.ownerId, runId: task.runId, stepId: task.stepId },
              request: { ...request.waitpoint, spec: redactor.redact(request.waitpoint.spec) },
            },
          }),
      // The children run as the task's owner, at its priority, in its trace.
      children: request.children.map((child) => ({
        ...child,
        input: redactor.redact(child.input),
        ownerId: task.ownerId,
        priority: task.priority,
        ...(task.traceContext === undefined ? {} : { traceContext: task.traceContext }),
      })),
    }).then(
      (held) => {
        if (!held) this.options.logger.warn({ task: task.id }, 'sleep refused: lease lost or task cancelled');
      },
      (error: unknown) =>
        this.options.logger.error({ err: error, task: task.id }, 'putting a task to sleep failed'),
    );
  }

  /** Coalesces the completions of one turn of the event loop into one flush. */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flush();
    });
  }

  /**
   * Completions go to the database in batches: whatever finished while the batches under way
   * were being written goes in the next one, in one transaction (at most MAX_COMPLETION_BATCH).
   * On PostgreSQL two batches are written at once, so the next batch is planned and sent while
   * the database commits the last: their runs and agents are locked in id order, so they cannot
   * deadlock, and a run both touch is worked out by the second after the first commits. SQLite's
   * one connection writes one at a time. Resolves once everything handed over is written.
   */
  private async flush(): Promise<void> {
    for (;;) {
      while (this.recording.size >= this.maxRecording) await Promise.race(this.recording.values());
      // While the database is failing, the retry timer flushes next, not every new completion.
      if (this.completions.length === 0 || this.retryTimer !== null) {
        if (this.recording.size === 0) return;
        await Promise.race(this.recording.values());
        continue;
      }
      const batch = this.completions.splice(0, MAX_COMPLETION_BATCH);
      this.recording.set(batch, this.record(batch));
    }
  }

  /** Writes the waiting completions again in a second (the database failed for the moment). */
  private retryLater(): void {
    if (this.retryTimer !== null) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.running) void this.flush();
    }, COMPLETION_RETRY_MS);
    this.retryTimer.unref();
  }

  /**
   * Finished tasks whose completion is not yet written still hold their leases, unrenewed: once
   * the oldest of them has waited a third of a lease (a slow write, a busy database), the worker
   * claims nothing more until the writes catch up, so completions cannot pile up until their
   * leases run out. A bound on their number instead cut the batches short while the database
   * kept up (10k fan-out on PostgreSQL 9% slower).
   */
  private recordingFallsBehind(): boolean {
    let oldest = this.completions[0]?.finishedAt;
    for (const batch of this.recording.keys())
      if (oldest === undefined || batch[0]!.finishedAt < oldest) oldest = batch[0]!.finishedAt;
    return oldest !== undefined && Date.now() - oldest > this.leaseMs / 3;
  }

  private record(batch: FinishedAttempt[]): Promise<void> {
    // Claim on complete (src/queue/eager.ts): the tasks the batch releases may be taken at once,
    // into free slots, but never into more than half of them: the claim loop always gets the
    // other half back for the queue, where other runs and owners wait.
    this.runStepsCompleting = batch.some((finished) => finished.completion.runId != null);
    let eagerRoom =
      this.running && this.runStepsCompleting
        ? Math.max(0, Math.min(this.concurrency - this.inFlight.size - this.reserved, this.eagerShare()))
        : 0;
    this.eagerReserved += eagerRoom;
    this.reserved += eagerRoom;
    const eager =
      eagerRoom > 0 ? { eager: { workerId: this.workerId, leaseMs: this.leaseMs, room: eagerRoom } } : {};
    // Each attempt's log lines were pushed before its completion: they go in first, ahead of
    // the engine's "step … completed".
    return (
      this.logs
        .flush()
        .then(() => this.reports.flush())
        .then(() =>
          completeTasks(
            this.options.store.handle,
            batch.map((finished) => finished.completion),
            this.hooks(),
            new Date(),
            eager,
          ),
        )
        .then(async ({ rejected, failed, claimed }) => {
          this.reserved -= eagerRoom;
          this.eagerReserved -= eagerRoom;
          // Whether runs go on this way: a batch with room that took nothing says they do not.
          if (eagerRoom > 0) {
            this.eagerTook = claimed.length > 0;
            if (!this.eagerTook) this.eagerRetryAt = Date.now() + EAGER_RETRY_MS;
          }
          eagerRoom = 0;
          if (this.running) for (const task of claimed) this.run(task, true);
          // Stopping meanwhile: back to the queue, for another worker.
          else if (claimed.length > 0)
            await releaseTasks(
              this.options.store.handle,
              this.workerId,
              claimed.map((task) => task.id),
            ).catch((error: unknown) =>
              this.options.logger.warn({ err: error }, 'releasing tasks claimed on completion failed'),
            );
          if (rejected.length > 0)
            this.options.logger.warn({ rejected }, 'completions refused: leases lost or tasks cancelled');
          // completeTasks isolates a completion that cannot be recorded and fails that task alone.
          for (const f of failed)
            this.options.logger.error(
              { task: f.id, outcome: f.outcome },
              `completion not recorded: ${f.error}`,
            );
          this.notify();
        })
        // Never for one task's sake (completeTasks fails that task alone): the database failed
        // for the moment (unreachable, deadlock, busy). The batch is kept, first in line, and
        // written again shortly; a completion whose lease ran out meanwhile is refused then.
        .catch((error: unknown) => {
          this.options.logger.warn(
            { err: error, completions: batch.length },
            `recording completions failed; retrying in ${COMPLETION_RETRY_MS} ms`,
          );
          this.completions.unshift(...batch);
          this.retryLater();
        })
        .finally(() => {
          this.reserved -= eagerRoom;
          this.eagerReserved -= eagerRoom;
          this.recording.delete(batch);
        })
    );
  }

  /** The tasks this worker holds: running, or finished with their completion not yet written. */
  private liveTaskIds(): string[] {
    return [
      ...this.inFlight.keys(),
      ...this.completions.map((f) => f.completion.id),
      ...[...this.recording.keys()].flatMap((batch) => batch.map((f) => f.completion.id)),
    ];
  }

  private async heartbeat(): Promise<void> {
    const leases = [...this.inFlight.values()].map((e) => ({ id: e.task.id, leaseEpoch: e.task.leaseEpoch }));
    if (leases.length === 0) return;
    try {
      const { lost } = await renewLeases(this.options.store.handle, this.workerId, leases, this.leaseMs);
      for (const id of lost) this.inFlight.get(id)?.abort.abort(new Error('lease lost or task cancelled'));
    } catch (error) {
      this.options.logger.error({ err: error }, 'renewing leases failed');
    }
  }
}

/** A finished attempt's completion, waiting to be written. */
interface FinishedAttempt {
  readonly completion: Completion;
  /** Epoch ms. */
  readonly finishedAt: number;
}

/** Completions written in one transaction at most: a long transaction holds up everyone's. */
const MAX_COMPLETION_BATCH = 1000;
/** How long completions wait to be written again after the database failed to take them. */
const COMPLETION_RETRY_MS = 1000;

/** How long a worker whose completions released nothing to take waits before it tries again. */
const EAGER_RETRY_MS = 1000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** An event sink that removes the attempt's secret values from what an agent emits. */
function redactedEvents(sink: EventSink, redactor: Redactor): EventSink {
  return {
    publish: (event: EmittedEvent) =>
      sink.publish({
        ...event,
        source: redactor.redactText(event.source),
        type: redactor.redactText(event.type),
        payload: redactor.redact(event.payload),
      }),
  };
}
/** setTimeout fires at once past this (2^31 - 1 ms, ~24.8 days): a longer timeout is none. */
const MAX_TIMER_MS = 2 ** 31 - 1;
