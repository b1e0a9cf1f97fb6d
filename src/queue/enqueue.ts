import type { Insertable, Kysely, RawBuilder } from 'kysely';
import { InputError, type FieldIssue } from '../errors/index.js';
import {
  newId,
  nowTimestamp,
  ROUTING_STRATEGIES,
  toDbJson,
  toDbTimestamp,
  type DialectAdapter,
  type LogicalType,
  type SwarmDatabase,
} from '../storage/index.js';
import { inlineJson, storeLargeColumns } from '../blobs/index.js';
import { chunksFor } from './batch.js';
import { announceQueuedWork } from './announce.js';
import { withAgentLimits, withOwnerQuotas, flowIssues, registerFlowKeys } from './flow/index.js';
import { eagerClaimIn, type EagerTransaction } from './eager.js';
import { CLAIM_COLUMNS, retryColumns, type ClaimRow } from './rows.js';
import { BACKOFF_KINDS, DEFAULT_RETRY_POLICY, type NewTask } from './types.js';

type TaskInsert = Insertable<SwarmDatabase['tasks']>;

// Every row binds the same columns: SQLite has no DEFAULT keyword inside a multi-row VALUES.
const TASK_COLUMNS = [
  { name: 'id', type: 'text' },
  { name: 'owner_id', type: 'text' },
  { name: 'run_id', type: 'text' },
  { name: 'step_id', type: 'text' },
  { name: 'item_index', type: 'integer' },
  { name: 'agent_name', type: 'text' },
  { name: 'agent_version', type: 'text' },
  { name: 'capability_required', type: 'text' },
  { name: 'routing_strategy', type: 'text' },
  { name: 'task_type', type: 'text' },
  { name: 'input_data', type: 'json' },
  { name: 'priority', type: 'integer' },
  { name: 'run_at', type: 'timestamp' },
  { name: 'max_retries', type: 'integer' },
  { name: 'retry_policy', type: 'text' },
  { name: 'retry_options', type: 'json' },
  { name: 'timeout_seconds', type: 'integer' },
  { name: 'expires_at', type: 'timestamp' },
  { name: 'concurrency_key', type: 'text' },
  { name: 'idempotency_key', type: 'text' },
  { name: 'trace_context', type: 'text' },
  { name: 'parent_task_id', type: 'text' },
  { name: 'task_metadata', type: 'json' },
  { name: 'idempotency_run_id', type: 'text' },
  { name: 'flow_keys', type: 'text' },
  { name: 'parked_key', type: 'text' },
] as const satisfies readonly { name: keyof TaskInsert; type: LogicalType }[];
const PARAMS_PER_ROW = TASK_COLUMNS.length;
/** A task inserted claimed (eager.ts): the columns a claim sets, too. */
const STARTED_TASK_COLUMNS = [
  ...TASK_COLUMNS,
  { name: 'status', type: 'text' },
  { name: 'lease_epoch', type: 'integer' },
  { name: 'locked_by', type: 'text' },
  { name: 'locked_until', type: 'timestamp' },
  { name: 'worker_id', type: 'text' },
  { name: 'assigned_at', type: 'timestamp' },
  { name: 'started_at', type: 'timestamp' },
  { name: 'heartbeat_at', type: 'timestamp' },
] as const satisfies readonly { name: keyof TaskInsert; type: LogicalType }[];
const STARTED_PARAMS_PER_ROW = STARTED_TASK_COLUMNS.length;
// With array parameters a statement binds one array per column, whatever the row count.
const ROWS_PER_ARRAY_INSERT = 5000;
/** Tasks enqueued at once past which the planner's statistics of `tasks` are refreshed. */
const ANALYZE_AFTER_ROWS = 20_000;

/**
 * Puts tasks on the queue with multi-row inserts, in the caller's transaction when `db` is one
 * (the engine enqueues a run's next steps in the transaction that completes the previous one);
 * tasks under flow limits get a transaction of their own otherwise (registerFlowKeys).
 * Returns the ids in the order given. Every task is checked first: one bad task writes nothing.
 * A task whose idempotency key its owner already used is not inserted again; its id is the
 * existing task's.
 *
 * Rows are built a chunk at a time, just before their statement: a fan-out of a million tasks
 * holds one chunk of rows at once, not a million.
 */
export async function enqueueTasks(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  given: readonly NewTask[],
): Promise<string[]> {
  if (given.length === 0) return [];
  // The owner's quota and the named agents' max_concurrency: limits every such task is under.
  const tasks = await withAgentLimits(db, dialect, await withOwnerQuotas(db, given));
  const flowKeyed = tasks.some((task) => task.flow !== undefined && task.flow.length > 0);
  if (flowKeyed && !dialect.inTransaction(db as Kysely<unknown>))
    return dialect.writeTransaction(db, (trx) => enqueueWithLimits(trx, dialect, tasks, true));
  return enqueueWithLimits(db, dialect, tasks, flowKeyed);
}

/** enqueueTasks, once each task carries every limit it is under. */
async function enqueueWithLimits(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  tasks: readonly NewTask[],
  flowKeyed: boolean,
): Promise<string[]> {
  const now = nowTimestamp();
  const timestamps = new TimestampCache();
  const issues: FieldIssue[] = [];
  for (let i = 0; i < tasks.length; i++)
    for (const issue of issuesOf(tasks[i]!, `tasks[${i}]`, timestamps)) issues.push(issue);
  const [first, ...more] = issues.slice(0, 100);
  if (first !== undefined) throw new InputError(first.field, first.message, more);
  const keyed = tasks.some((task) => task.idempotencyKey !== undefined);
  // The keys' rows first: a claimer that sees a keyed task always finds its limits.
  if (flowKeyed) await registerFlowKeys(db, dialect, tasks);
  const ids: string[] = [];
  // Rows whose idempotency key was taken: their position, to put the existing task's id there.
  const taken: Array<{ index: number; owner_id: string; idempotency_key: string }> = [];
  let inserted = 0;
  let queued = 0;
  const eager = eagerClaimIn(db);
  // Rows inserted claimed bind more columns: chunks sized for them where some may be.
  for (const chunk of taskChunks(
    dialect,
    tasks,
    eager === undefined ? PARAMS_PER_ROW : STARTED_PARAMS_PER_ROW,
  )) {
    const rows = chunk.map((task, j) => toRow(task, `tasks[${ids.length + j}]`, now, timestamps));
    await storeLargeColumns(
      { db, dialect },
      rows,
      'input_data',
      chunk.map((task) => task.input),
      'tasks',
      (j) => `tasks[${ids.length + j}].input`,
    );
    const nowMs = Date.now();
    const started = eager === undefined ? [] : takeEagerly(eager, rows, nowMs);
    const startedSet = new Set(started);
    const pending = started.length === 0 ? rows : rows.filter((row) => !startedSet.has(row));
    let here: Set<string> | null = null;
    if (pending.length > 0) {
      let insert = insertTasks(db, dialect, TASK_COLUMNS, pending);
      if (keyed) {
        // The conflict target names the partial unique index uq_tasks_idempotency, WHERE included.
        insert = insert.onConflict((oc) =>
          oc.columns(['owner_id', 'idempotency_key']).where('idempotency_key', 'is not', null).doNothing(),
        );
      }
      const returned = await insert.returning('id').execute();
      inserted += returned.length;
      queued += returned.length;
      if (keyed && returned.length < pending.length) here = new Set(returned.map((row) => row.id));
    }
    if (started.length > 0) inserted += await insertStarted(db, dialect, eager!, started, nowMs);
    for (const row of rows) {
      if (here !== null && row.idempotency_key !== null && !here.has(row.id))
        taken.push({ index: ids.length, owner_id: row.owner_id, idempotency_key: row.idempotency_key });
      ids.push(row.id);
    }
  }
  // A fan-out of tens of thousands of tasks changes the table's size enough to mislead the
  // planner until autovacuum's next analyze: every claim would sort the whole backlog.
  if (inserted >= ANALYZE_AFTER_ROWS) await dialect.analyze(db as unknown as Kysely<unknown>, 'tasks');
  // Tasks claimed as they were inserted wait for nobody: only queued ones wake workers.
  if (queued > 0) {
    const unkeyed = tasks.some((task) => task.flow === undefined || task.flow.length === 0);
    await announceQueuedWork(db, dialect, { keyed: flowKeyed, unkeyed });
  }
  if (taken.length > 0) await resolveDuplicates(db, dialect, ids, taken);
  return ids;
}

type TaskRow = ReturnType<typeof toRow>;

/** The rows an eager claim (eager.ts) may take, as many as it has room for. */
function takeEagerly(eager: EagerTransaction, rows: readonly TaskRow[], nowMs: number): TaskRow[] {
  const started: TaskRow[] = [];
  for (const row of rows) {
    if (started.length >= eager.room) break;
    if (eager.mayTake(row, nowMs)) started.push(row);
  }
  return started;
}

/** Inserts `rows` already claimed by the eager claim's worker; returns how many. */
async function insertStarted(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  eager: EagerTransaction,
  rows: readonly TaskRow[],
  nowMs: number,
): Promise<number> {
  const started = eager.startedColumns(nowMs);
  const startedRows = rows.map((row) => ({ ...row, ...started }));
  const claimed = await insertTasks(db, dialect, STARTED_TASK_COLUMNS, startedRows)
    .returning(CLAIM_COLUMNS)
    .execute();
  for (const row of claimed) eager.taken.push({ row: row as ClaimRow, startedMs: nowMs });
  return claimed.length;
}

/** An insert of `rows` into `tasks`: as the dialect's rowsAsSelect where it can, else VALUES. */
function insertTasks(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  columns: readonly { name: keyof TaskInsert; type: LogicalType }[],
  rows: readonly TaskInsert[],
) {
  const asSelect = dialect.rowsAsSelect(columns, rows);
  return asSelect === null
    ? db.insertInto('tasks').values(rows)
    : db
        .insertInto('tasks')
        .columns(columns.map((c) => c.name))
        .expression(asSelect as RawBuilder<never>);
}

/** The tasks in chunks of one insert each: the dialect's parameter limit, or array parameters. */
function taskChunks(dialect: DialectAdapter, tasks: readonly NewTask[], paramsPerRow: number): NewTask[][] {
  if (!dialect.capabilities.arrayParameters) return chunksFor(dialect, tasks, paramsPerRow);
  const chunks: NewTask[][] = [];
  for (let i = 0; i < tasks.length; i += ROWS_PER_ARRAY_INSERT)
    chunks.push(tasks.slice(i, i + ROWS_PER_ARRAY_INSERT));
  return chunks;
}

/** Puts the existing task's id in `ids` where a task was not inserted because its key was taken. */
async function resolveDuplicates(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  ids: string[],
  taken: readonly { index: number; owner_id: string; idempotency_key: string }[],
): Promise<void> {
  const existing = new Map<string, string>();
  for (const chunk of chunksFor(dialect, taken, 2)) {
    const found = await db
      .selectFrom('tasks')
      .select(['id', 'owner_id', 'idempotency_key'])
      .where((eb) =>
        eb.or(
          chunk.map((row) =>
            eb.and([eb('owner_id', '=', row.owner_id), eb('idempotency_key', '=', row.idempotency_key)]),
          ),
        ),
      )
      .execute();
    for (const row of found) existing.set(`${row.owner_id}\u0000${row.idempotency_key}`, row.id);
  }
  for (const row of taken) {
    const id = existing.get(`${row.owner_id}\u0000${row.idempotency_key}`);
    if (id !== undefined) ids[row.index] = id;
  }
}

/** Every problem of one task, each naming its field (`tasks[2].priority`). */
/**
 * Timestamps checked and normalised once per distinct value in a call: the tasks a completion
 * releases share one `runAt`, which was otherwise parsed twice per task.
 */
class TimestampCache {
  private readonly seen = new Map<string, string>();

  of(value: Date | string, field: string): string {
    if (typeof value !== 'string') return toDbTimestamp(value, field);
    let stored = this.seen.get(value);
    if (stored === undefined) {
      stored = toDbTimestamp(value, field);
      this.seen.set(value, stored);
    }
    return stored;
  }
}

// Built once: a bulk enqueue checks every task, and joining these per task was a tenth of it.
const ONE_OF_ROUTING_STRATEGIES = `one of ${ROUTING_STRATEGIES.join(', ')}`;
const ONE_OF_BACKOFF_KINDS = `one of ${BACKOFF_KINDS.join(', ')}`;

function issuesOf(task: NewTask, at: string, timestamps: TimestampCache): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const check = (ok: boolean, field: string, message: string) => {
    if (!ok) issues.push({ field: `${at}.${field}`, message });
  };
  const priority = task.priority ?? 5;
  const maxRetries = task.maxRetries ?? 3;
  const policy = task.retryPolicy ?? DEFAULT_RETRY_POLICY;
  check(typeof task.ownerId === 'string' && task.ownerId !== '', 'ownerId', 'required');
  check(typeof task.taskType === 'string' && task.taskType !== '', 'taskType', 'required');
  check(Number.isInteger(priority) && priority >= 1 && priority <= 10, 'priority', 'an integer from 1 to 10');
  check(Number.isInteger(maxRetries) && maxRetries >= 0, 'maxRetries', 'an integer of at least 0');
  check(
    task.routing === undefined || ROUTING_STRATEGIES.includes(task.routing),
    'routing',
    ONE_OF_ROUTING_STRATEGIES,
  );
  check(BACKOFF_KINDS.includes(policy.backoff), 'retryPolicy.backoff', ONE_OF_BACKOFF_KINDS);
  check(
    Number.isFinite(policy.initialDelayMs) && policy.initialDelayMs >= 0,
    'retryPolicy.initialDelayMs',
    'at least 0',
  );
  check(Number.isFinite(policy.maxDelayMs) && policy.maxDelayMs >= 0, 'retryPolicy.maxDelayMs', 'at least 0');
  check(
    task.timeoutSeconds === undefined || (Number.isInteger(task.timeoutSeconds) && task.timeoutSeconds > 0),
    'timeoutSeconds',
    'a positive integer',
  );
  check(
    task.itemIndex === undefined || (Number.isInteger(task.itemIndex) && task.itemIndex >= 0),
    'itemIndex',
    'an integer of at least 0',
  );
  for (const issue of flowIssues(task.flow, at)) issues.push(issue);
  for (const field of ['runAt', 'expiresAt'] as const) {
    const value = task[field];
    if (value === undefined) continue;
    try {
      timestamps.of(value, field);
    } catch (error) {
      check(
        false,
        field,
        error instanceof InputError ? (error.issues[0]?.message ?? error.message) : String(error),
      );
    }
  }
  return issues;
}

function toRow(task: NewTask, at: string, now: string, timestamps: TimestampCache) {
  const policy = task.retryPolicy ?? DEFAULT_RETRY_POLICY;
  const flowKey = task.flow?.[0]?.key;
  return {
    id: newId(),
    owner_id: task.ownerId,
    run_id: task.runId ?? null,
    step_id: task.stepId ?? null,
    item_index: task.itemIndex ?? null,
    agent_name: task.agentName ?? null,
    agent_version: task.agentVersion ?? null,
    capability_required: task.capability ?? null,
    routing_strategy: task.routing ?? 'round_robin',
    task_type: task.taskType,
    // undefined is no JSON value: store null rather than a NULL the column refuses.
    input_data: inlineJson(task.input ?? null),
    priority: task.priority ?? 5,
    run_at: task.runAt === undefined ? now : timestamps.of(task.runAt, `${at}.runAt`),
    max_retries: task.maxRetries ?? 3,
    ...retryColumns(policy),
    timeout_seconds: task.timeoutSeconds ?? null,
    expires_at: task.expiresAt === undefined ? null : timestamps.of(task.expiresAt, `${at}.expiresAt`),
    // A keyed task is born parked under its first key: the claim admits it when the key has
    // room, so a backlog of one key never lies on the ready path of any other task.
    concurrency_key: flowKey ?? null,
    idempotency_key: task.idempotencyKey ?? null,
    trace_context: task.traceContext ?? null,
    parent_task_id: task.parentTaskId ?? null,
    task_metadata: task.metadata === undefined ? null : toDbJson(task.metadata),
    idempotency_run_id: task.idempotencyRunId ?? null,
    flow_keys:
      flowKey === undefined ? null : JSON.stringify([...new Set(task.flow!.map((limit) => limit.key))]),
    parked_key: flowKey ?? null,
  } satisfies TaskInsert;
}
