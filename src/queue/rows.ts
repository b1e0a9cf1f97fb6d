import { sql } from 'kysely';
import { fromDbJson, toDbJson } from '../storage/index.js';
import {
  BACKOFF_KINDS,
  DEFAULT_RETRY_POLICY,
  type BackoffKind,
  type ClaimedTask,
  type RetryPolicy,
} from './types.js';

/**
 * A keyed task put back on the queue (a retry, a sleep, a reclaimed lease, a release) waits
 * parked under its first key, as it did after its enqueue: keyed tasks are claimed only from
 * where they are parked (src/queue/flow/claim.ts), so none is ever off every path. An unkeyed
 * task's `concurrency_key` is null, and so it stays unparked.
 */
export const PARKED_UNDER_FIRST_KEY = { parked_key: sql<string | null>`concurrency_key` };

/**
 * The snake_case columns of `tasks` map to the queue's camelCase objects here and nowhere else.
 * The back-off kind has a column of its own (`retry_policy`, checked by the schema); the
 * numbers live in the `retry_options` JSON.
 */
export function retryColumns(policy: RetryPolicy): { retry_policy: BackoffKind; retry_options: string } {
  const key = `${policy.backoff}:${policy.initialDelayMs}:${policy.maxDelayMs}:${policy.jitter}`;
  let columns = RETRY_COLUMNS.get(key);
  if (columns === undefined) {
    columns = {
      retry_policy: policy.backoff,
      retry_options: toDbJson({
        initialDelayMs: policy.initialDelayMs,
        maxDelayMs: policy.maxDelayMs,
        jitter: policy.jitter,
      }),
    };
    if (RETRY_COLUMNS.size >= MAX_POLICIES) RETRY_COLUMNS.clear();
    RETRY_COLUMNS.set(key, columns);
  }
  return columns;
}

/**
 * Tasks share a few policies (the default, each step's): each is serialised once and parsed once
 * by its content, not once per task (the engine builds a policy object per task it releases).
 */
const RETRY_COLUMNS = new Map<string, { retry_policy: BackoffKind; retry_options: string }>();
const POLICIES_READ = new Map<string, RetryPolicy>();
/** Distinct policies kept each way: past this a map starts over (a bound, not an LRU). */
const MAX_POLICIES = 1000;

/** Reads a policy back; rows written before the options existed (imports) get the defaults. */
export function retryPolicyOf(kind: string, options: string | null): RetryPolicy {
  const key = `${kind}\u0000${options ?? ''}`;
  let policy = POLICIES_READ.get(key);
  if (policy === undefined) {
    const stored = fromDbJson<Partial<Omit<RetryPolicy, 'backoff'>>>(options) ?? {};
    policy = Object.freeze({
      backoff: (BACKOFF_KINDS as readonly string[]).includes(kind)
        ? (kind as BackoffKind)
        : DEFAULT_RETRY_POLICY.backoff,
      initialDelayMs: stored.initialDelayMs ?? DEFAULT_RETRY_POLICY.initialDelayMs,
      maxDelayMs: stored.maxDelayMs ?? DEFAULT_RETRY_POLICY.maxDelayMs,
      jitter: stored.jitter ?? DEFAULT_RETRY_POLICY.jitter,
    });
    if (POLICIES_READ.size >= MAX_POLICIES) POLICIES_READ.clear();
    POLICIES_READ.set(key, policy);
  }
  return policy;
}

/**
 * What a claim writes to a task it starts: RUNNING under a new lease (the epoch fences out any
 * earlier holder), held by the claimer until `lockedUntil`. The unkeyed and keyed claims share it.
 */
export function startedColumns(at: {
  readonly now: string;
  readonly lockedUntil: string;
  readonly workerId: string;
}) {
  return {
    status: 'RUNNING',
    lease_epoch: sql<number>`lease_epoch + 1`,
    locked_by: at.workerId,
    locked_until: at.lockedUntil,
    worker_id: at.workerId,
    assigned_at: at.now,
    started_at: at.now,
    heartbeat_at: at.now,
    updated_at: at.now,
  } as const;
}

/** The columns a claim returns: everything a worker needs to run the task without reading it again. */
export const CLAIM_COLUMNS = [
  'id',
  'owner_id',
  'run_id',
  'step_id',
  'item_index',
  'agent_name',
  'agent_version',
  'capability_required',
  'task_type',
  'input_data',
  'priority',
  'run_at',
  'retry_count',
  'max_retries',
  'retry_policy',
  'retry_options',
  'timeout_seconds',
  'expires_at',
  'concurrency_key',
  'lease_epoch',
  'locked_until',
  'resume_state',
  'trace_context',
  'idempotency_run_id',
] as const;

export interface ClaimRow {
  id: string;
  owner_id: string;
  run_id: string | null;
  step_id: string | null;
  item_index: number | null;
  agent_name: string | null;
  agent_version: string | null;
  capability_required: string | null;
  task_type: string;
  input_data: string;
  priority: number;
  run_at: string;
  retry_count: number;
  max_retries: number;
  retry_policy: string;
  retry_options: string;
  timeout_seconds: number | null;
  expires_at: string | null;
  concurrency_key: string | null;
  lease_epoch: number;
  locked_until: string | null;
  resume_state: string | null;
  trace_context: string | null;
  idempotency_run_id: string | null;
}

export function toClaimedTask(row: ClaimRow): ClaimedTask {
  // The optional fields are set after the literal: spreading them in made a claim's rows the
  // dearest part of reading it back.
  const task: Mutable<ClaimedTask> = {
    id: row.id,
    ownerId: row.owner_id,
    runId: row.run_id,
    stepId: row.step_id,
    itemIndex: row.item_index,
    agent: row.agent_name === null ? null : { name: row.agent_name, version: row.agent_version },
    capability: row.capability_required,
    taskType: row.task_type,
    input: fromDbJson(row.input_data),
    priority: row.priority,
    attempt: row.retry_count + 1,
    maxRetries: row.max_retries,
    retryPolicy: retryPolicyOf(row.retry_policy, row.retry_options),
    timeoutSeconds: row.timeout_seconds,
    concurrencyKey: row.concurrency_key,
    leaseEpoch: row.lease_epoch,
    lockedUntil: row.locked_until ?? '',
  };
  if (row.resume_state !== null) task.resumeState = fromDbJson(row.resume_state);
  if (row.trace_context !== null) task.traceContext = row.trace_context;
  if (row.idempotency_run_id !== null) task.idempotencyRunId = row.idempotency_run_id;
  return task;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** The claim order (`idx_tasks_ready`): higher priority first, then older `run_at`, then id. */
export function byClaimOrder(
  a: Pick<ClaimRow, 'priority' | 'run_at' | 'id'>,
  b: Pick<ClaimRow, 'priority' | 'run_at' | 'id'>,
): number {
  if (a.priority !== b.priority) return b.priority - a.priority;
  if (a.run_at !== b.run_at) return Date.parse(a.run_at) - Date.parse(b.run_at);
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
