import type { AttemptLike } from '../../dag/timeline.js';
import type { StepLike } from '../../dag/layout.js';

/** A step's state in a run (`GET /api/v1/runs/{id}` → `steps`). */
export interface StepView {
  readonly status: string;
  readonly output?: unknown;
  readonly error?: string;
  /** A for_each step's tasks. */
  readonly items?: { readonly total: number; readonly done: number };
  readonly agent_version?: string;
  readonly started_at?: string;
  readonly completed_at?: string;
  /** A fork's step that did not run: the run whose recorded output it reused. */
  readonly reused_from?: string;
}

/** A run forked from another (`GET /api/v1/runs/{id}` → `forks`). */
export interface ForkView {
  readonly id: string;
  readonly status: string;
  readonly createdAt: string;
  readonly fromStep: string | null;
  readonly version?: string | null;
}

export interface RunView {
  readonly id: string;
  readonly workflow: string;
  readonly version: string;
  readonly status: string;
  readonly attempt: number;
  readonly steps: Readonly<Record<string, StepView>>;
  readonly result: unknown;
  readonly error: string | null;
  readonly errorStep: string | null;
  readonly startedAt: string | null;
  readonly completedAt: string | null;
  readonly durationMs: number | null;
  readonly timeoutAt?: string | null;
  /** Its workflow's concurrency key ("" for one key per workflow); a pending run with one waits for a slot. */
  readonly concurrencyKey?: string | null;
  readonly cancelledBy?: string | null;
  readonly cancellationReason?: string | null;
  readonly trigger?: { readonly type: string; readonly id: string | null; readonly startedBy: string | null };
  /** Added by another change to the run view; shown when present. */
  readonly tokens?: number | null;
  readonly cost?: number | null;
  /** Its consensus decisions, one per consensus step that decided. */
  readonly consensus?: readonly ConsensusView[];
  /** A fork: the run it came from and the step it ran again from (docs/replay.md). */
  readonly parentRunId?: string | null;
  readonly isReplay?: boolean;
  readonly forkedFromStep?: string | null;
  /** The runs forked from it (on the run's own page). */
  readonly forks?: readonly ForkView[];
}

/** A consensus step's recorded decision (`GET /api/v1/runs/{id}` → `consensus`). */
export interface ConsensusView {
  readonly stepId: string | null;
  readonly strategy: string;
  readonly finalResult: unknown;
  readonly confidence: number | null;
  readonly agentResults: Readonly<
    Record<string, { readonly agent: string | null; readonly output: unknown }>
  >;
  readonly details: Readonly<Record<string, unknown>>;
}

export interface LogLine {
  readonly id: string;
  readonly time: string;
  readonly level: string;
  readonly eventType: string;
  readonly stepId: string | null;
  readonly taskId: string | null;
  readonly message: string;
}

export interface Attempt extends AttemptLike {
  readonly workerId: string | null;
  readonly error: string | null;
}

export interface WorkflowVersion {
  readonly name: string;
  readonly version: string;
  /** The normalised DAG. */
  readonly workflow: { readonly steps: readonly StepLike[] };
}

export const ENDED = new Set(['completed', 'failed', 'cancelled', 'timeout']);

/** One turn of an agent step's conversation (`GET /runs/{id}/steps/{step}/conversation`). */
export interface ConversationTurn {
  readonly id: string;
  readonly taskId: string;
  readonly itemIndex: number | null;
  readonly role: 'system' | 'user' | 'assistant' | 'tool';
  readonly type: string;
  readonly sender: string;
  /** Who a message between agents was for (null: everyone, or no one in particular). */
  readonly recipient?: string | null;
  readonly content: unknown;
  readonly turn: number;
  readonly modelCall?: number;
  readonly model?: string;
  readonly inputTokens?: number;
  readonly outputTokens?: number;
  readonly tokens?: number;
  readonly cost?: number;
  readonly startedAt?: string;
  readonly durationMs?: number;
  readonly toolTaskId?: string;
}

/** A tool call's task, for the chat and the timeline. */
export interface ToolCallTask {
  readonly taskId: string;
  readonly parentTaskId: string;
  readonly callId: string | null;
  readonly tool: string | null;
  readonly modelCall?: number;
  readonly agent: string | null;
  readonly status: string;
  readonly retries: number;
  readonly error: string | null;
  readonly createdAt: string;
  readonly startedAt: string | null;
  readonly completedAt: string | null;
}

export interface StepConversation {
  readonly turns: readonly ConversationTurn[];
  readonly toolCalls: readonly ToolCallTask[];
  readonly totals: {
    readonly modelCalls: number;
    readonly toolCalls: number;
    readonly tokens: number;
    readonly cost: number;
  };
  readonly truncated: boolean;
}
