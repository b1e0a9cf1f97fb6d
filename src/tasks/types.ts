/**
 * Standalone tasks (seed 001's task API): what a client submits, and what it reads back.
 *
 * - **standalone task**: a row of `tasks` with no run. It names an agent (pinned to a version
 *   at submission) or a capability (routing picks the agent when it runs).
 * - **dependency**: a task may wait for others (`depends_on`). While any of them has not
 *   completed it is *blocked* (`is_blocked`, `blocked_by`) and held back from the queue; it is
 *   released when the last one completes, and fails when one of them ends any other way.
 * - **chain**: steps run one after the other; each step is one task, enqueued when the
 *   previous one completed.
 * - **template**: named defaults for submissions; each use counts in `times_used`.
 */
import type { BackoffKind } from '../queue/index.js';

export const ROUTING_STRATEGY_NAMES = [
  'round_robin',
  'least_loaded',
  'trust_weighted',
  'fastest',
  'random',
] as const;
export type RoutingStrategy = (typeof ROUTING_STRATEGY_NAMES)[number];

/** Statuses a task does not leave. */
export const ENDED_TASK_STATUSES = [
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TIMEOUT',
  'SKIPPED',
  'EXPIRED',
] as const;

export const CHAIN_STATUS_NAMES = ['PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'] as const;
export type ChainStatus = (typeof CHAIN_STATUS_NAMES)[number];

/** A retry policy as the API writes it (every field optional: the rest from the default). */
export interface RetryPolicyInput {
  readonly backoff?: BackoffKind;
  readonly initial_delay_ms?: number;
  readonly max_delay_ms?: number;
  readonly jitter?: boolean;
}

/** The fields a task is submitted with (`POST /api/v1/tasks`, a chain step, a template). */
export interface TaskFields {
  /** `name@version` or `name` (its latest usable version), resolved and pinned at submission. */
  readonly agent?: string;
  readonly capability?: string;
  readonly type?: string;
  readonly input?: unknown;
  readonly priority?: number;
  readonly timeout_seconds?: number;
  readonly max_retries?: number;
  readonly retry_policy?: RetryPolicyInput;
  readonly routing_strategy?: RoutingStrategy;
}

export interface SubmitTask extends TaskFields {
  /** Ids of the caller's tasks that must complete first. */
  readonly depends_on?: readonly string[];
  readonly expires_at?: string;
  readonly idempotency_key?: string;
  /** A template of the caller's: its defaults fill the fields the submission leaves out. */
  readonly template?: string;
}

export interface TaskView {
  readonly id: string;
  /** `name@version`, pinned at submission; null for a capability task. */
  readonly agent: string | null;
  readonly capability: string | null;
  readonly type: string;
  readonly status: string;
  readonly priority: number;
  readonly input: unknown;
  readonly result: unknown;
  readonly error: string | null;
  readonly error_code: string | null;
  /** Attempts started so far (0 while it never ran). */
  readonly attempts: number;
  readonly max_retries: number;
  readonly retry_policy: {
    readonly backoff: string;
    readonly initial_delay_ms: number;
    readonly max_delay_ms: number;
    readonly jitter: boolean;
  };
  readonly timeout_seconds: number | null;
  readonly routing_strategy: string;
  readonly depends_on: string[];
  readonly blocked_by: string[];
  readonly is_blocked: boolean;
  readonly chain_id: string | null;
  readonly template_id: string | null;
  readonly run_id: string | null;
  readonly idempotency_key: string | null;
  readonly expires_at: string | null;
  readonly created_at: string;
  readonly started_at: string | null;
  readonly completed_at: string | null;
  readonly cancelled_at: string | null;
  readonly cancellation_reason: string | null;
  readonly duration_ms: number | null;
}

export interface TaskFilters {
  readonly status?: string;
  readonly capability?: string;
  /** An agent's name, or `name@version`. */
  readonly agent?: string;
  /** A task id: only tasks listed after it (older), for the next page. */
  readonly before?: string;
  /** @default 50 */
  readonly limit?: number;
}

/** One step of a chain as submitted. */
export interface ChainStepInput extends TaskFields {
  readonly name?: string;
  /** The previous step's output becomes this step's input (merged into it when both are objects). */
  readonly use_previous_output?: boolean;
}

export interface SubmitChain {
  readonly name?: string;
  readonly steps: readonly ChainStepInput[];
}

export interface ChainStepResult {
  readonly task_id: string;
  readonly status: string;
  readonly output?: unknown;
  readonly error?: string;
}

export interface ChainView {
  readonly id: string;
  readonly name: string;
  readonly status: string;
  /** The index (from 0) of the step running now, or of the last one that ran. */
  readonly current_step: number;
  readonly steps: unknown[];
  /** One entry per step that started, in order. */
  readonly step_results: ChainStepResult[];
  /** The last step's output once the chain completed. */
  readonly result: unknown;
  readonly error: string | null;
  readonly created_at: string;
  readonly started_at: string | null;
  readonly completed_at: string | null;
}

export interface TemplateInput {
  readonly description?: string;
  readonly agent?: string;
  readonly capability?: string;
  readonly type: string;
  readonly input?: unknown;
  readonly priority?: number;
  readonly timeout_seconds?: number;
  readonly max_retries?: number;
}

export interface TemplateView {
  readonly id: string;
  readonly name: string;
  readonly description: string | null;
  /** As written (`name` or `name@version`): resolved when a task is submitted from it. */
  readonly agent: string | null;
  readonly capability: string | null;
  readonly type: string;
  readonly input: unknown;
  readonly priority: number;
  readonly timeout_seconds: number;
  readonly max_retries: number;
  readonly times_used: number;
  readonly created_at: string;
  readonly updated_at: string;
}
