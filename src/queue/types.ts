import type { FlowLimit } from './flow/keys.js';
/**
 * Glossary of the durable queue.
 *
 * - **task**: one row of `tasks`; one step execution of a run (one item of a `for_each`), or a
 *   standalone task. It is *ready* when PENDING and its `run_at` has come.
 * - **claim**: a worker takes ready tasks. It holds each under a **lease** until `locked_until`,
 *   and extends it by **renewing** (the heartbeat).
 * - **lease epoch**: a counter bumped on every claim and every cancellation. It is the fencing
 *   token: completing or failing a task names the epoch it was claimed under, and the database
 *   refuses the write when the epoch moved on, so a worker that lost its lease (paused, cut off,
 *   presumed dead) can never record a result over the next holder's.
 * - **attempt**: `retry_count + 1`. A failure with retries left moves the task back to PENDING
 *   as the next attempt.
 * - **lease loss**: a lease that ran out (the worker died or stalled). The task goes back to
 *   PENDING as the same attempt — the platform lost it, the step did not fail — and
 *   `lease_losses` counts up; at the limit (SWARM_MAX_LEASE_LOSSES) the task fails.
 * - **sleep**: a runtime's answer "not done yet, resume me at T" (builtin/delay): the task goes
 *   back to PENDING with `run_at` T and the runtime's `resume_state`, holding no worker slot,
 *   as the same attempt.
 * - **worker assignment**: one row of `worker_assignments` per ended attempt, written when it
 *   ends, recording who held which task under which epoch and how it ended (completed |
 *   released | lost). The running attempt and the one that completed the task have no row:
 *   the task row (worker_id, assigned_at, heartbeat_at, lease_epoch, completed_at) is it.
 */
import type { Kysely } from 'kysely';
import type { ROUTING_STRATEGIES, SwarmDatabase } from '../storage/index.js';

export const BACKOFF_KINDS = ['fixed', 'linear', 'exponential'] as const;
export type BackoffKind = (typeof BACKOFF_KINDS)[number];

/** How long to wait before the next attempt of a failed task. */
export interface RetryPolicy {
  readonly backoff: BackoffKind;
  /** Delay before the first retry (the base of linear and exponential growth). */
  readonly initialDelayMs: number;
  /** No delay is longer than this. */
  readonly maxDelayMs: number;
  /** Spread retries at random so failures at the same moment do not retry at the same moment. */
  readonly jitter: boolean;
}

/** The policy of a task that names none: exponential from 1 s up to 5 min, with jitter. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  backoff: 'exponential',
  initialDelayMs: 1000,
  maxDelayMs: 300_000,
  jitter: true,
});

/** A task to put on the queue. */
export interface NewTask {
  readonly ownerId: string;
  /** The run the task is a step of; absent for a standalone task. */
  readonly runId?: string;
  readonly stepId?: string;
  /** The item of a `for_each` step this task runs. */
  readonly itemIndex?: number;
  readonly agentName?: string;
  readonly agentVersion?: string;
  /** The capability an agent must offer to run it (routing picks the agent). */
  readonly capability?: string;
  /** How routing picks among the agents offering `capability` (see src/routing). @default round_robin */
  readonly routing?: (typeof ROUTING_STRATEGIES)[number];
  readonly taskType: string;
  /** Any JSON value. */
  readonly input: unknown;
  /** 1 (lowest) to 10 (highest). @default 5 */
  readonly priority?: number;
  /** Not claimable before this moment. @default now */
  readonly runAt?: Date | string;
  /** Retries after the first attempt. @default 3 */
  readonly maxRetries?: number;
  /** @default DEFAULT_RETRY_POLICY */
  readonly retryPolicy?: RetryPolicy;
  /** An attempt running longer is killed and counts as timed out. */
  readonly timeoutSeconds?: number;
  /** Not started after this moment: a task still waiting then becomes EXPIRED. */
  readonly expiresAt?: Date | string;
  /**
   * Flow control: the concurrency and rate limits the task is under (src/queue/flow). The
   * owner's quota, when an admin set one, is added at enqueue.
   */
  readonly flow?: readonly FlowLimit[];
  /** Enqueueing again with the same key (per owner) returns the existing task's id. */
  readonly idempotencyKey?: string;
  /** The run span's W3C traceparent (src/telemetry), when tracing is on: its attempts' parent. */
  readonly traceContext?: string;
  /**
   * The task that spawned this one and sleeps until it ends (an agent loop's tool call): set by
   * `sleepTask`'s `children`, which fills it in.
   */
  readonly parentTaskId?: string;
  /** Any JSON value kept with the task (`task_metadata`): what its parent needs to read it back. */
  readonly metadata?: unknown;
  /**
   * The run whose id its attempts' idempotency keys are derived from, when not its own: a fork's
   * tasks name the root of the fork chain, so a replayed side effect carries the original key.
   */
  readonly idempotencyRunId?: string;
}

/** A task a worker now holds. */
export interface ClaimedTask {
  readonly id: string;
  readonly ownerId: string;
  readonly runId: string | null;
  readonly stepId: string | null;
  readonly itemIndex: number | null;
  readonly agent: { readonly name: string; readonly version: string | null } | null;
  readonly capability: string | null;
  readonly taskType: string;
  readonly input: unknown;
  readonly priority: number;
  /** 1 for the first attempt. */
  readonly attempt: number;
  readonly maxRetries: number;
  readonly retryPolicy: RetryPolicy;
  readonly timeoutSeconds: number | null;
  readonly concurrencyKey: string | null;
  /** The fencing token: pass it back to renew, complete or fail. */
  readonly leaseEpoch: number;
  readonly lockedUntil: string;
  /** What the runtime left when it last put this task to sleep (`sleepTask`); absent if it never slept. */
  readonly resumeState?: unknown;
  /** The run span's traceparent it was enqueued with (tracing on); absent otherwise. */
  readonly traceContext?: string;
  /** A replay's root run (NewTask.idempotencyRunId); absent for a task of an ordinary run. */
  readonly idempotencyRunId?: string;
}

/** A lease as a worker names it: which task, claimed under which epoch. */
export interface Lease {
  readonly id: string;
  readonly leaseEpoch: number;
}

/** What the completion hook learns about a task that just completed. */
export interface CompletedTask {
  readonly id: string;
  readonly ownerId: string;
  readonly runId: string | null;
  readonly stepId: string | null;
  readonly itemIndex: number | null;
  readonly attempt: number;
  readonly output: unknown;
  readonly durationMs: number | null;
  /** The schedule that submitted it (a standalone scheduled task), if one did. */
  readonly scheduledTaskId: string | null;
  /** The task chain it is a step of, if any. */
  readonly chainId: string | null;
  /** The agent that ran it, as its row names it: what a hook needs without reading it again. */
  readonly agent: TaskAgentRef;
}

/** The agent of a task: the one routing assigned, else the one the task names (if any). */
export interface TaskAgentRef {
  readonly assignedAgentId: string | null;
  readonly name: string | null;
  readonly version: string | null;
}

/** What the final-failure hook learns about a task that will not run again. */
export interface FailedTask {
  readonly id: string;
  readonly ownerId: string;
  readonly runId: string | null;
  readonly stepId: string | null;
  readonly itemIndex: number | null;
  readonly attempt: number;
  readonly status: 'FAILED' | 'TIMEOUT';
  readonly error: string;
  readonly code: string | null;
  /** The schedule that submitted it (a standalone scheduled task), if one did. */
  readonly scheduledTaskId: string | null;
  /** The task chain it is a step of, if any. */
  readonly chainId: string | null;
}

/**
 * Called inside the queue's write transaction, so whatever the hook writes commits or rolls
 * back with the task's new state. `trx` is that transaction: use it, never the pool.
 */
export type TaskHook<T> = (trx: Kysely<SwarmDatabase>, task: T) => Promise<void>;

/**
 * A batch hook: `prepared` is what `prepareCompletedBatch` returned for the completions this
 * transaction records (undefined when there is no such hook, or it failed).
 */
export type BatchHook<T> = (trx: Kysely<SwarmDatabase>, tasks: T, prepared?: unknown) => Promise<void>;

/**
 * What `onCompletedBatch` gets as `prepared` on a first try when the hooks can prepare
 * (`prepareCompletedBatch`): the hook may then throw PrepareFirstError, and the batch is rolled
 * back, prepared and recorded again with what the preparation returned.
 */
export const PREPARE_ON_REQUEST: unique symbol = Symbol('prepare on request');

/**
 * Thrown by `onCompletedBatch` given PREPARE_ON_REQUEST: recording this batch needs work that
 * must not be done holding the transaction's locks (an expression for an evaluator thread).
 */
export class PrepareFirstError extends Error {
  constructor(readonly reason: string) {
    super(`completion batch needs preparing first: ${reason}`);
    this.name = 'PrepareFirstError';
  }
}

/** A completion as the preparing hook sees it, before its transaction: nothing is locked yet. */
export interface PendingCompletion {
  readonly id: string;
  readonly output: unknown;
  /** Where the task belongs, as its claim said; absent when the caller did not say. */
  readonly runId?: string | null;
  readonly stepId?: string | null;
  readonly itemIndex?: number | null;
}

export interface CompletionHooks {
  readonly onCompleted?: TaskHook<CompletedTask>;
  /**
   * Instead of `onCompleted`: the whole batch at once, in the order the completions were given,
   * so the hook can write what follows many tasks with a few statements.
   */
  readonly onCompletedBatch?: BatchHook<readonly CompletedTask[]>;
  /**
   * Before the batch's transaction and outside it: what can be worked out without holding
   * locks (the engine evaluates the expressions of the steps the batch releases here), so the
   * transaction only checks that nothing changed meanwhile and writes. What it returns reaches
   * `onCompletedBatch` as `prepared`; if it throws, the batch is recorded without it.
   */
  readonly prepareCompletedBatch?: (completions: readonly PendingCompletion[]) => Promise<unknown>;
}

/** What the lease-loss hook learns about a task put back on the queue after its lease ran out. */
export interface LostLease {
  readonly id: string;
  readonly ownerId: string;
  readonly runId: string | null;
  readonly stepId: string | null;
  readonly itemIndex: number | null;
  /** The attempt that was interrupted and will run again (not consumed). */
  readonly attempt: number;
  /** Leases lost so far, this one included. */
  readonly leaseLosses: number;
  /** At this many the task fails instead. */
  readonly maxLeaseLosses: number;
}

export interface LeaseHooks {
  /** The tasks a reclaim put back on the queue, in its transaction (a run's log records each). */
  readonly onLeaseLost?: TaskHook<readonly LostLease[]>;
}

export interface FailureHooks {
  readonly onFailed?: TaskHook<FailedTask>;
  /**
   * Every failed attempt, retried or final, in the failure's transaction (the agent's trust
   * moves per attempt, with the attempt's own outcome).
   */
  readonly onAttemptFailed?: TaskHook<{ readonly id: string; readonly timedOut: boolean }>;
}
