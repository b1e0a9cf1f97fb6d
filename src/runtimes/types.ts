/**
 * The contract between the worker and whatever runs an agent. The worker resolves a task to an
 * invocation, hands it to the Runtime for the agent's `runtime.type`, and records the output
 * (or the error) itself: runtimes never touch the task row. Process, remote (http) and LLM
 * runtimes plug in behind the same interface.
 */
import type { ROUTING_STRATEGIES } from '../storage/index.js';

/** One attempt of one task, as the worker claimed it. */
export interface AgentInvocation {
  taskId: string;
  /** null for a task submitted on its own, outside any run. */
  runId: string | null;
  stepId: string | null;
  /** Whose task it is: everything the agent writes (events…) belongs to this user. */
  ownerId: string;
  /** 1 for the first attempt; retries count up. */
  attempt: number;
  agent: InvokedAgent;
  /** The step's resolved input (JSON). */
  input: unknown;
  /**
   * Present when this attempt resumes a task the runtime put to sleep (it resolved to a
   * `Sleep`): the `state` it gave then. Absent on a task that never slept.
   */
  resumeState?: unknown;
  /**
   * The same for every attempt of this step and item, and for its replays in forks of the run
   * (derived from the original run, the step and the item): what an agent passes on to make its
   * side effects safe to repeat (`Idempotency-Key`, an email's Message-ID).
   */
  idempotencyKey: string;
}

/**
 * The agent an invocation runs, as the worker found it. Only `name`, `version` and `runtime` are
 * always there; the rest is what local (process) runtimes need and is filled in for registered
 * agents.
 */
export interface InvokedAgent {
  name: string;
  version: string;
  /** The manifest's runtime block: `{type: 'builtin', name}`, `{type: 'node', entry, args}`… */
  runtime: { type: string; name?: string } & Record<string, unknown>;
  /**
   * The agent's code folder (node, python, binary), absolute, as recorded when the agent was
   * registered from disk; null when it was registered without one.
   */
  folder?: string | null;
  /** resources.memory_mb: a hard limit on the whole process tree. */
  memoryMb?: number;
  /** What the agent may touch (`secret:NAME`, `event:emit`, …). Nothing else is granted. */
  permissions?: readonly string[];
  inputSchema?: unknown;
  outputSchema?: unknown;
}

export type LogLevel = 'debug' | 'info' | 'warning' | 'error';

/** What the worker lends a runtime for one invocation. */
export interface RuntimeContext {
  /**
   * Aborted by the worker on timeout, cancellation or lease loss. A runtime then rejects
   * promptly with `signal.reason`, so the worker can tell its own reasons apart.
   */
  signal: AbortSignal;
  events: EventSink;
  /** Into the run's execution log. Never pass secrets, headers or full URLs with queries. */
  log(level: LogLevel, message: string, metadata?: Record<string, unknown>): void;
  /**
   * The secrets granted to this agent, already resolved by the worker: only names the manifest
   * grants with a `secret:NAME` permission. Absent means none. A runtime hands an agent only the
   * names its permissions list, whatever else this holds.
   */
  secrets?: Readonly<Record<string, string>>;
  /**
   * Where usage, messages and artifacts an agent reports go, for the worker to record. Runtimes
   * also write each to `log`, so nothing is lost while no recorder is attached.
   */
  report?(item: AgentReport): void;
  /** The children this task started with its sleeps (`Sleep.children`), oldest first. */
  childTasks?(): Promise<readonly ChildTaskOutcome[]>;
  /**
   * Saves progress mid-attempt: `state` becomes what an attempt resuming this task gets as
   * `invocation.resumeState` (after a crash or a retry), and `entries` are written to the
   * conversation record (`messages`) in the same commit. Resolves false when the lease was lost.
   * Absent: nothing is saved (the runtime runs without a worker).
   */
  checkpoint?(state: unknown, entries: readonly ConversationEntry[]): Promise<boolean>;
  /**
   * This task's waitpoint under `key` (asked for with a `Sleep`), or null when there is none.
   * A waitpoint still `waiting` past its timeout is settled as `timed_out` by this call — unless
   * a decision wins the race, which is then what it returns. Absent without a worker.
   */
  waitpoint?(key: string): Promise<WaitpointOutcome | null>;
}

/** One message of an agent's conversation as the record keeps it (a `messages` row). */
export interface ConversationEntry {
  /** system, user, assistant or tool (a tool's result). */
  readonly role: 'system' | 'user' | 'assistant' | 'tool';
  /**
   * `messages.message_type`: request (to the model, or a hand-off), response (from it, a tool or
   * a speaker), error, broadcast (a mesh speaker to all).
   */
  readonly type: 'request' | 'response' | 'error' | 'broadcast';
  /** Who spoke: the agent as name@version, `swarm`, or `tool:<name>`. */
  readonly sender: string;
  readonly recipient: string | null;
  readonly content: unknown;
  /** `role`, the turn's place in the conversation, and for model replies their usage. */
  readonly metadata: Record<string, unknown>;
}

/** What an agent reports besides its output (see docs/runtimes.md for the line formats). */
export type AgentReport =
  | {
      kind: 'usage';
      tokens: number;
      inputTokens?: number;
      outputTokens?: number;
      cost: number;
      model?: string;
      provider?: string;
    }
  | {
      kind: 'message';
      to: string | null;
      /** request, response, status_update, error or broadcast (docs/runtimes.md). */
      messageType: string;
      content: unknown;
    }
  | {
      kind: 'artifact';
      name: string;
      contentType: string | null;
      /** Inline content (text, or base64 when `encoding` is base64). */
      content: string | null;
      encoding: 'utf8' | 'base64' | null;
      /** A file the agent wrote, relative to its working folder (removed after the attempt). */
      path: string | null;
      bytes: number | null;
    };

export interface Runtime {
  /**
   * Resolves to the agent's output (JSON) or a `Sleep`, or rejects with a RuntimeError (or
   * signal.reason).
   */
  execute(invocation: AgentInvocation, context: RuntimeContext): Promise<unknown>;
}

/**
 * What a runtime resolves to instead of an output when the task is not done and should carry on
 * later without holding a worker meanwhile (builtin/delay). The worker puts the task back on
 * the queue, claimable from `until` and keeping `state` (JSON) in the task row; the attempt that
 * resumes it — on any worker, after any restart — gets `state` as `invocation.resumeState`.
 * Sleeping consumes no attempt. A class, not JSON, so no agent's output can be taken for one.
 */
export class Sleep {
  constructor(
    readonly until: Date,
    readonly state: unknown,
    /**
     * Tasks to start as this task's children, in the sleep's own transaction: when the last of
     * them ends the task wakes at once (an agent loop's tool calls). Their owner is the task's.
     */
    readonly children: readonly ChildTaskRequest[] = [],
    /**
     * What the task waits for (an approval, an event): the worker writes it with the sleep, in
     * one transaction, and `until` is its timeout. The attempt that resumes the task reads its
     * outcome with `context.waitpoint(key)`.
     */
    readonly waitpoint?: WaitpointRequest,
  ) {}
}

/** A waitpoint a runtime asks for with its `Sleep` (see src/queue/waitpoints.ts). */
export interface WaitpointRequest {
  /** Its name within the task: the resumed attempt reads it back by this key. */
  readonly key: string;
  readonly kind: 'approval' | 'event' | 'sleep';
  readonly spec: unknown;
  readonly eventType?: string;
  readonly eventSource?: string;
  readonly eventsSince?: Date;
  readonly timeoutAt?: Date;
  readonly onTimeout?: 'fail' | 'approve' | 'reject' | 'continue';
}

/** A waitpoint as a resumed attempt reads it back (`context.waitpoint`). */
export interface WaitpointOutcome {
  readonly id: string;
  readonly status: 'waiting' | 'resolved' | 'timed_out' | 'cancelled';
  readonly timeoutAt: string | null;
  readonly onTimeout: 'fail' | 'approve' | 'reject' | 'continue';
  readonly result: unknown;
  readonly resolvedBy: string | null;
  readonly resolvedAt: string | null;
}

/** A child task a runtime asks for with its `Sleep`. */
export interface ChildTaskRequest {
  readonly agentName?: string;
  readonly agentVersion?: string;
  readonly capability?: string;
  /** How routing picks among the agents offering `capability` (round_robin when absent). */
  readonly routing?: (typeof ROUTING_STRATEGIES)[number];
  readonly taskType: string;
  readonly input: unknown;
  readonly maxRetries?: number;
  readonly timeoutSeconds?: number;
  /** What the parent needs to read the child back (e.g. the model's tool call id). */
  readonly metadata?: unknown;
}

/** A child task as its parent reads it back (RuntimeContext.childTasks). */
export interface ChildTaskOutcome {
  readonly id: string;
  /** PENDING, RUNNING, … while it runs; COMPLETED, FAILED, TIMEOUT, CANCELLED or EXPIRED once ended. */
  readonly status: string;
  /** Whether it has ended: the queue's answer, so no runtime keeps its own list of final statuses. */
  readonly finished: boolean;
  readonly output: unknown;
  readonly error: string | null;
  readonly metadata: unknown;
}

export interface EmittedEvent {
  ownerId: string;
  source: string;
  type: string;
  payload: unknown;
  runId?: string | null;
  taskId?: string;
  /**
   * Publishing twice with the same key (per owner) stores one event and returns its id both
   * times: a retried attempt of the emitting task must not start the subscribed workflows again.
   */
  idempotencyKey?: string;
}

/** Where emitted events go; they are dispatched to event triggers later, not by the publisher. */
export interface EventSink {
  /** Stores the event durably and resolves to its id. */
  publish(event: EmittedEvent): Promise<string>;
}

/** What builtin/http_request may reach. Comes from the worker's configuration, not from input. */
export interface HttpPolicy {
  /** Lets requests reach loopback, private, link-local… addresses (development, tests). */
  allowPrivateNetworks: boolean;
  /** Host names (or IP literals) exempt from the address check, compared case-insensitively. */
  allowedHosts?: string[];
  /** The whole request, every redirect hop and the body included. */
  timeoutMs: number;
  /** Largest response body accepted (after decompression). */
  maxResponseBytes: number;
}
