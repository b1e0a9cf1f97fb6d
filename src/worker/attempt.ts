import type { ClaimedTask } from '../queue/index.js';
import type { AgentInvocation, EventSink, InvokedAgent, RuntimeContext } from '../runtimes/index.js';
import { idempotencyKeyOf } from './idempotency.js';

/**
 * An attempt's cancellation. The AbortSignal, an EventTarget that was 4% of a no-op task's CPU
 * in a worker running thousands a second, is made only when a runtime reads it (an HTTP call, a
 * process agent); whether the attempt was aborted is known without one.
 */
export class AttemptAbort {
  private controller: AbortController | null = null;
  private abortedWith: { reason: unknown } | null = null;

  get signal(): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController();
      if (this.abortedWith !== null) this.controller.abort(this.abortedWith.reason);
    }
    return this.controller.signal;
  }

  get aborted(): boolean {
    return this.abortedWith !== null;
  }

  /** The first reason holds, as with an AbortController. */
  abort(reason: unknown): void {
    if (this.abortedWith !== null) return;
    this.abortedWith = { reason };
    this.controller?.abort(reason);
  }
}

/**
 * What a runtime is handed for one attempt. A class rather than an object literal: its lazy
 * `idempotencyKey` is a prototype getter, where a getter in a literal cost a slow object per task.
 */
export class AttemptInvocation implements AgentInvocation {
  readonly taskId: string;
  readonly runId: string | null;
  readonly stepId: string | null;
  readonly ownerId: string;
  readonly attempt: number;
  // Declared, not defined: absent unless the task slept (a class field would be there, undefined).
  declare readonly resumeState?: unknown;
  // Private fields (#), so nothing that serialises or lists the invocation sees them.
  readonly #keyRunId: string | null;
  readonly #itemIndex: number | null;
  #key: string | undefined;

  constructor(
    task: ClaimedTask,
    readonly agent: InvokedAgent,
    readonly input: unknown,
  ) {
    this.#keyRunId = task.idempotencyRunId ?? task.runId;
    this.#itemIndex = task.itemIndex;
    this.taskId = task.id;
    this.runId = task.runId;
    this.stepId = task.stepId;
    this.ownerId = task.ownerId;
    this.attempt = task.attempt;
    if (task.resumeState !== undefined) (this as { resumeState?: unknown }).resumeState = task.resumeState;
  }

  /**
   * A hash, computed when a runtime first reads it (process and HTTP agents, builtin/http_request);
   * the other builtins never do, and a worker running thousands a second saves the hash.
   */
  get idempotencyKey(): string {
    return (this.#key ??= idempotencyKeyOf(this.#keyRunId, this.taskId, this.stepId, this.#itemIndex));
  }
}

/**
 * What the worker lends a runtime for one attempt (RuntimeContext). A class for the same reason
 * as AttemptInvocation: `signal` is a prototype getter that makes the AbortSignal on first read.
 */
export class AttemptContext implements RuntimeContext {
  readonly #abort: AttemptAbort;
  readonly events: EventSink;
  readonly log: RuntimeContext['log'];
  readonly report: NonNullable<RuntimeContext['report']>;
  readonly childTasks: NonNullable<RuntimeContext['childTasks']>;
  readonly waitpoint: NonNullable<RuntimeContext['waitpoint']>;
  readonly checkpoint: NonNullable<RuntimeContext['checkpoint']>;
  declare readonly secrets?: Readonly<Record<string, string>>;

  constructor(
    abort: AttemptAbort,
    parts: Required<Omit<RuntimeContext, 'signal' | 'secrets'>>,
    secrets: Readonly<Record<string, string>>,
  ) {
    this.#abort = abort;
    this.events = parts.events;
    this.log = parts.log;
    this.report = parts.report;
    this.childTasks = parts.childTasks;
    this.waitpoint = parts.waitpoint;
    this.checkpoint = parts.checkpoint;
    // Absent rather than empty: a runtime tells "granted none" by its absence.
    if (Object.keys(secrets).length > 0)
      (this as { secrets?: Readonly<Record<string, string>> }).secrets = secrets;
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }
}
