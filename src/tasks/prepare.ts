import type { Kysely } from 'kysely';
import { InputError, type FieldIssue } from '../errors/index.js';
import { DEFAULT_RETRY_POLICY, enqueueTasks, type NewTask, type RetryPolicy } from '../queue/index.js';
import { schemaIssues, type AgentResolver } from '../registry/index.js';
import { toDbBool, toDbJson, type DialectAdapter, type SwarmDatabase } from '../storage/index.js';
import type { RoutingStrategy, TaskFields } from './types.js';

/** Where a blocked task waits: never claimable until its dependencies release it. */
export const HELD_UNTIL = '9999-12-31T23:59:59.999Z';

export const DEFAULT_TASK_TYPE = 'task';

/** A task's fields checked and resolved: the agent pinned, the retry policy complete. */
export interface PreparedTask {
  readonly agentName?: string;
  readonly agentVersion?: string;
  readonly capability?: string;
  readonly taskType: string;
  readonly input: unknown;
  readonly priority?: number;
  readonly timeoutSeconds?: number;
  readonly maxRetries?: number;
  readonly retryPolicy?: RetryPolicy;
  readonly routingStrategy: RoutingStrategy;
}

/** `name@version` → [name, version]; `builtin/noop` → [name, undefined]. */
export function splitAgentRef(ref: string): [string, string | undefined] {
  const at = ref.lastIndexOf('@');
  return at > 0 ? [ref.slice(0, at), ref.slice(at + 1)] : [ref, undefined];
}

/**
 * Checks one task's fields and pins its agent. `at` prefixes the field names of the issues
 * (`steps[1].`), which are collected rather than thrown so a chain reports all its steps.
 * `finalInput`: the input is what the agent will get (not a template's defaults, nor a chain
 * step's that the previous output completes), so it is checked against the agent's input_schema
 * now, and a task that could only fail is refused before it is queued.
 */
export async function prepareTask(
  fields: TaskFields,
  resolver: AgentResolver,
  at: string,
  issues: FieldIssue[],
  options: { readonly finalInput: boolean } = { finalInput: true },
): Promise<PreparedTask | null> {
  const before = issues.length;
  const hasAgent = fields.agent !== undefined;
  const hasCapability = fields.capability !== undefined;
  if (hasAgent === hasCapability) {
    issues.push({
      field: `${at}${hasAgent ? 'capability' : 'agent'}`,
      message: hasAgent
        ? 'give an agent or a capability, not both'
        : 'give an agent (name or name@version) or a capability',
    });
    return null;
  }
  let agentName: string | undefined;
  let agentVersion: string | undefined;
  if (fields.agent !== undefined) {
    const [name, version] = splitAgentRef(fields.agent);
    const resolved = name === '' ? null : await resolver.resolve(name, version ?? '*');
    if (resolved === null) {
      issues.push({
        field: `${at}agent`,
        message: (await resolver.exists(name))
          ? `no usable version of ${name} matches ${version ?? 'any version'}`
          : `no agent named ${name}`,
      });
    } else {
      agentName = resolved.name;
      agentVersion = resolved.version;
      if (options.finalInput)
        // A loop, not push(...): an input can break its schema in more places than a call takes arguments.
        for (const issue of schemaIssues(resolved.input_schema, fields.input ?? {}, `${at}input`))
          issues.push(issue);
    }
  }
  const policy = fields.retry_policy;
  const retryPolicy: RetryPolicy | undefined =
    policy === undefined
      ? undefined
      : {
          backoff: policy.backoff ?? DEFAULT_RETRY_POLICY.backoff,
          initialDelayMs: policy.initial_delay_ms ?? DEFAULT_RETRY_POLICY.initialDelayMs,
          maxDelayMs: policy.max_delay_ms ?? DEFAULT_RETRY_POLICY.maxDelayMs,
          jitter: policy.jitter ?? DEFAULT_RETRY_POLICY.jitter,
        };
  if (retryPolicy !== undefined && retryPolicy.maxDelayMs < retryPolicy.initialDelayMs) {
    issues.push({ field: `${at}retry_policy.max_delay_ms`, message: 'at least initial_delay_ms' });
  }
  if (issues.length > before) return null;
  return {
    ...(agentName === undefined ? {} : { agentName, agentVersion: agentVersion! }),
    ...(fields.capability === undefined ? {} : { capability: fields.capability }),
    taskType: fields.type ?? DEFAULT_TASK_TYPE,
    input: fields.input ?? {},
    ...(fields.priority === undefined ? {} : { priority: fields.priority }),
    ...(fields.timeout_seconds === undefined ? {} : { timeoutSeconds: fields.timeout_seconds }),
    ...(fields.max_retries === undefined ? {} : { maxRetries: fields.max_retries }),
    ...(retryPolicy === undefined ? {} : { retryPolicy }),
    routingStrategy: fields.routing_strategy ?? 'round_robin',
  };
}

/** Throws the collected issues as one InputError (the first names the field). */
export function throwIssues(issues: readonly FieldIssue[]): void {
  const [first, ...more] = issues;
  if (first !== undefined) throw new InputError(first.field, first.message, more);
}

export interface InsertExtras {
  readonly input?: unknown;
  readonly expiresAt?: string;
  readonly idempotencyKey?: string;
  readonly chainId?: string;
  readonly templateId?: string;
  /** The schedule that submitted it (scheduled.ts). */
  readonly scheduledTaskId?: string;
  readonly dependsOn?: readonly string[];
  /** The dependencies not completed yet: non-empty holds the task back. */
  readonly blockedBy?: readonly string[];
}

/**
 * Puts one prepared task on the queue in `trx`, then writes the columns the queue does not
 * know (routing strategy, chain, template, dependencies) in the same transaction, so no worker
 * ever sees the task without them. A blocked task is enqueued with `run_at` far in the future
 * and released (run_at = now) when its last dependency completes. Returns the task's id.
 */
export async function insertTask(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  ownerId: string,
  task: PreparedTask,
  extras: InsertExtras = {},
): Promise<string> {
  const blocked = (extras.blockedBy ?? []).length > 0;
  const { routingStrategy, ...fields } = task;
  const newTask: NewTask = {
    ...fields,
    ownerId,
    input: extras.input === undefined ? task.input : extras.input,
    ...(extras.expiresAt === undefined ? {} : { expiresAt: extras.expiresAt }),
    ...(extras.idempotencyKey === undefined ? {} : { idempotencyKey: extras.idempotencyKey }),
    ...(blocked ? { runAt: HELD_UNTIL } : {}),
  };
  const [id] = await enqueueTasks(trx, dialect, [newTask]);
  await trx
    .updateTable('tasks')
    .set({
      routing_strategy: routingStrategy,
      chain_id: extras.chainId ?? null,
      template_id: extras.templateId ?? null,
      ...(extras.scheduledTaskId === undefined ? {} : { scheduled_task_id: extras.scheduledTaskId }),
      depends_on: toDbJson(extras.dependsOn ?? []),
      blocked_by: toDbJson(extras.blockedBy ?? []),
      is_blocked: toDbBool(blocked),
    })
    .where('id', '=', id!)
    .execute();
  return id!;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * The input of a step with `use_previous_output`: the previous output merged into the step's own
 * input when both are objects (the step's own keys win: they are its fixed parameters), else the
 * previous output alone.
 */
export function inputAfter(previousOutput: unknown, ownInput: unknown): unknown {
  if (isPlainObject(previousOutput) && isPlainObject(ownInput)) return { ...previousOutput, ...ownInput };
  return previousOutput;
}

/** A template's default input and the submission's: merged when both are objects (submission wins). */
export function mergeInput(defaults: unknown, given: unknown): unknown {
  if (given === undefined) return defaults;
  if (isPlainObject(defaults) && isPlainObject(given)) return { ...defaults, ...given };
  return given;
}
