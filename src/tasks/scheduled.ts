import type { Kysely, Selectable } from 'kysely';
import { InputError, NotFoundError, SwarmError, type FieldIssue } from '../errors/index.js';
import { canonicalTimeZone, cronProblem, nextTick } from '../registry/index.js';
import {
  auditedWrite,
  fromDbBool,
  fromDbJson,
  newId,
  toDbBool,
  toDbJson,
  toDbTimestamp,
  type Caller,
  type DialectAdapter,
  type Store,
  type SwarmDatabase,
} from '../storage/index.js';
import { DEFAULT_TASK_TYPE, insertTask, type PreparedTask } from './prepare.js';

/**
 * Scheduled tasks (seed 001's `scheduled_tasks`): a cron expression that submits one standalone
 * capability task per tick. The scheduler claims a due tick and calls `enqueueScheduledTask` in
 * the claiming transaction; the task's end moves the schedule's counters (see hooks.ts).
 */

export type ScheduledTaskRow = Selectable<SwarmDatabase['scheduled_tasks']>;
type Db = Kysely<SwarmDatabase>;

/** The same rule as a task's `capability`. */
export const CAPABILITY_PATTERN = /^[a-z0-9][a-z0-9_.-]*(:[a-z0-9_.-]+)*$/;
export const SCHEDULED_TASK_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;
export const MISFIRE_POLICIES = ['skip', 'catch_up'] as const;
export type MisfirePolicy = (typeof MISFIRE_POLICIES)[number];

export interface ScheduleTaskInput {
  readonly name: string;
  /** 5 fields (minute first), 6 (seconds first) or an @-nickname. */
  readonly cron: string;
  /** IANA time zone, default UTC. */
  readonly timezone?: string;
  /** The capability each task asks for (routing picks the agent when it runs). */
  readonly capability: string;
  /** @default 'task' */
  readonly taskType?: string;
  /** @default {} */
  readonly input?: unknown;
  /** 1–10, default 5. */
  readonly priority?: number;
  /** 1–86400, default 300. */
  readonly timeoutSeconds?: number;
  /** Ticks missed while no scheduler ran: dropped (`skip`, default) or fired late (`catch_up`). */
  readonly misfire?: MisfirePolicy;
  /** With `catch_up`: how many of the newest missed ticks fire. 1–1000, default 10. */
  readonly catchUpLimit?: number;
}

/** What PATCH may change: pause/resume, and the schedule's own fields. */
export type ScheduleTaskChanges = Partial<Omit<ScheduleTaskInput, 'name' | 'capability'>> & {
  readonly active?: boolean;
};

export interface ScheduledTaskView {
  readonly id: string;
  readonly name: string;
  readonly cron: string;
  readonly timezone: string;
  readonly capability: string;
  readonly taskType: string;
  readonly input: unknown;
  readonly priority: number;
  readonly timeoutSeconds: number;
  readonly misfire: MisfirePolicy;
  readonly catchUpLimit: number;
  readonly active: boolean;
  readonly nextRunAt: string | null;
  readonly lastRunAt: string | null;
  readonly totalRuns: number;
  readonly successfulRuns: number;
  readonly failedRuns: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export function scheduledTaskView(row: ScheduledTaskRow): ScheduledTaskView {
  return {
    id: row.id,
    name: row.name,
    cron: row.cron_expression,
    timezone: row.timezone,
    capability: row.capability_required,
    taskType: row.task_type,
    input: fromDbJson(row.input_data),
    priority: row.priority,
    timeoutSeconds: row.timeout_seconds,
    misfire: row.misfire_policy === 'catch_up' ? 'catch_up' : 'skip',
    catchUpLimit: row.catch_up_limit,
    active: fromDbBool(row.active),
    nextRunAt: row.next_run_at,
    lastRunAt: row.last_run_at,
    totalRuns: Number(row.total_runs),
    successfulRuns: Number(row.successful_runs),
    failedRuns: Number(row.failed_runs),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function isInteger(value: unknown, min: number, max: number): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

/**
 * Checks the fields present in `fields` (all of them on create); collects every problem so a
 * client learns them at once. Returns the canonical time zone when one was checked.
 */
function check(
  fields: Partial<ScheduleTaskInput> & { active?: unknown },
  issues: FieldIssue[],
  creating: boolean,
): { timezone?: string } {
  const out: { timezone?: string } = {};
  if (creating || fields.name !== undefined) {
    if (typeof fields.name !== 'string' || !SCHEDULED_TASK_NAME_PATTERN.test(fields.name))
      issues.push({
        field: 'name',
        message: 'letters, digits, ".", "_" and "-", starting with a letter or digit; at most 200 characters',
      });
  }
  if (creating || fields.capability !== undefined) {
    if (
      typeof fields.capability !== 'string' ||
      fields.capability.length > 256 ||
      !CAPABILITY_PATTERN.test(fields.capability)
    )
      issues.push({ field: 'capability', message: 'a capability such as "text.summarize" or "llm:chat"' });
  }
  if (fields.timezone !== undefined) {
    const zone = typeof fields.timezone === 'string' ? canonicalTimeZone(fields.timezone) : null;
    if (zone === null) issues.push({ field: 'timezone', message: `unknown time zone "${fields.timezone}"` });
    else out.timezone = zone;
  }
  if (creating || fields.cron !== undefined) {
    if (typeof fields.cron !== 'string' || fields.cron.trim() === '') {
      issues.push({ field: 'cron', message: 'a cron expression is required' });
    } else {
      const problem = cronProblem(fields.cron, out.timezone ?? 'UTC');
      if (problem !== null) issues.push({ field: 'cron', message: problem });
    }
  }
  if (
    fields.taskType !== undefined &&
    (typeof fields.taskType !== 'string' || fields.taskType === '' || fields.taskType.length > 128)
  )
    issues.push({ field: 'taskType', message: 'a non-empty string of at most 128 characters' });
  if (fields.priority !== undefined && !isInteger(fields.priority, 1, 10))
    issues.push({ field: 'priority', message: 'an integer from 1 to 10' });
  if (fields.timeoutSeconds !== undefined && !isInteger(fields.timeoutSeconds, 1, 86_400))
    issues.push({ field: 'timeoutSeconds', message: 'an integer from 1 to 86400' });
  if (fields.misfire !== undefined && !MISFIRE_POLICIES.includes(fields.misfire))
    issues.push({ field: 'misfire', message: 'skip or catch_up' });
  if (fields.catchUpLimit !== undefined && !isInteger(fields.catchUpLimit, 1, 1000))
    issues.push({ field: 'catchUpLimit', message: 'an integer from 1 to 1000' });
  if (fields.active !== undefined && typeof fields.active !== 'boolean')
    issues.push({ field: 'active', message: 'true or false' });
  return out;
}

function throwAll(issues: readonly FieldIssue[]): void {
  const [first, ...more] = issues;
  if (first !== undefined) throw new InputError(first.field, first.message, more);
}

function nextRunAt(cron: string, timezone: string, after: Date): string | null {
  const next = nextTick(cron, timezone, after);
  return next === null ? null : toDbTimestamp(next);
}

/** The caller's scheduled tasks: every read and write is scoped to the caller's rows. */
export class ScheduledTaskService {
  constructor(private readonly store: Store) {}

  /** Checks everything first (nothing is written on a bad field), then stores it with its next tick. */
  async create(caller: Caller, input: ScheduleTaskInput, now = new Date()): Promise<ScheduledTaskView> {
    const issues: FieldIssue[] = [];
    const { timezone = 'UTC' } = check(input, issues, true);
    throwAll(issues);
    const db = this.store.handle.db;
    const taken = await db
      .selectFrom('scheduled_tasks')
      .select('id')
      .where('owner_id', '=', caller.userId)
      .where('name', '=', input.name)
      .executeTakeFirst();
    if (taken !== undefined)
      throw new SwarmError('CONFLICT', `you already have a scheduled task named ${input.name}`, {
        context: { field: 'name' },
      });
    const id = newId();
    const cron = input.cron.trim();
    await auditedWrite(
      db,
      this.store.handle.dialect,
      (trx) =>
        trx
          .insertInto('scheduled_tasks')
          .values({
            id,
            owner_id: caller.userId,
            name: input.name,
            cron_expression: cron,
            timezone,
            task_type: input.taskType ?? DEFAULT_TASK_TYPE,
            capability_required: input.capability,
            input_data: toDbJson(input.input === undefined ? {} : input.input),
            priority: input.priority ?? 5,
            timeout_seconds: input.timeoutSeconds ?? 300,
            active: toDbBool(true),
            misfire_policy: input.misfire ?? 'skip',
            catch_up_limit: input.catchUpLimit ?? 10,
            next_run_at: nextRunAt(cron, timezone, now),
          })
          .execute(),
      () => ({
        caller,
        action: 'scheduled_task.create',
        resourceType: 'scheduled_task',
        resourceId: id,
        metadata: { name: input.name, cron, timezone, capability: input.capability },
      }),
    );
    return this.get(caller, id);
  }

  /** The caller's scheduled tasks by name. */
  async list(caller: Caller): Promise<ScheduledTaskView[]> {
    const rows = await this.store.handle.db
      .selectFrom('scheduled_tasks')
      .selectAll()
      .where('owner_id', '=', caller.userId)
      .orderBy('name')
      .orderBy('id')
      .execute();
    return rows.map(scheduledTaskView);
  }

  /** One scheduled task by id or name. */
  async get(caller: Caller, ref: string): Promise<ScheduledTaskView> {
    return scheduledTaskView(await this.row(caller, ref));
  }

  /**
   * Pauses or resumes it, or changes its schedule or task fields. A resumed schedule, or one
   * whose cron or time zone changed, starts from now: the ticks it slept through are not misfires.
   */
  async update(
    caller: Caller,
    ref: string,
    changes: ScheduleTaskChanges,
    now = new Date(),
  ): Promise<ScheduledTaskView> {
    const issues: FieldIssue[] = [];
    const row = await this.row(caller, ref);
    const checked = check(changes, issues, false);
    if (changes.cron === undefined && checked.timezone !== undefined) {
      // A new time zone must still suit the stored expression.
      const problem = cronProblem(row.cron_expression, checked.timezone);
      if (problem !== null) issues.push({ field: 'timezone', message: problem });
    }
    throwAll(issues);
    const cron = changes.cron?.trim() ?? row.cron_expression;
    const timezone = checked.timezone ?? row.timezone;
    const resumed = changes.active === true && !fromDbBool(row.active);
    const rescheduled = cron !== row.cron_expression || timezone !== row.timezone;
    const set: Record<string, unknown> = { updated_at: toDbTimestamp(now) };
    if (changes.active !== undefined) set.active = toDbBool(changes.active);
    if (rescheduled) Object.assign(set, { cron_expression: cron, timezone });
    if (resumed || rescheduled) set.next_run_at = nextRunAt(cron, timezone, now);
    if (changes.taskType !== undefined) set.task_type = changes.taskType;
    if (changes.input !== undefined) set.input_data = toDbJson(changes.input);
    if (changes.priority !== undefined) set.priority = changes.priority;
    if (changes.timeoutSeconds !== undefined) set.timeout_seconds = changes.timeoutSeconds;
    if (changes.misfire !== undefined) set.misfire_policy = changes.misfire;
    if (changes.catchUpLimit !== undefined) set.catch_up_limit = changes.catchUpLimit;
    await auditedWrite(
      this.store.handle.db,
      this.store.handle.dialect,
      (trx) =>
        trx
          .updateTable('scheduled_tasks')
          .set(set)
          .where('id', '=', row.id)
          .where('owner_id', '=', caller.userId)
          .execute(),
      () => ({
        caller,
        action: 'scheduled_task.update',
        resourceType: 'scheduled_task',
        resourceId: row.id,
        metadata: { name: row.name, fields: Object.keys(changes) },
      }),
    );
    return this.get(caller, row.id);
  }

  /** Removes the schedule; tasks it already submitted stay (their `scheduled_task_id` is cleared). */
  async remove(caller: Caller, ref: string): Promise<ScheduledTaskView> {
    const row = await this.row(caller, ref);
    await auditedWrite(
      this.store.handle.db,
      this.store.handle.dialect,
      (trx) =>
        trx
          .deleteFrom('scheduled_tasks')
          .where('id', '=', row.id)
          .where('owner_id', '=', caller.userId)
          .execute(),
      () => ({
        caller,
        action: 'scheduled_task.delete',
        resourceType: 'scheduled_task',
        resourceId: row.id,
        metadata: { name: row.name },
      }),
    );
    return scheduledTaskView(row);
  }

  private async row(caller: Caller, ref: string): Promise<ScheduledTaskRow> {
    const rows = await this.store.handle.db
      .selectFrom('scheduled_tasks')
      .selectAll()
      .where('owner_id', '=', caller.userId)
      .where((eb) => eb.or([eb('id', '=', ref), eb('name', '=', ref)]))
      .execute();
    // An id wins over a name that happens to look like one.
    const row = rows.find((r) => r.id === ref) ?? rows[0];
    if (row === undefined) throw new NotFoundError('scheduled task', ref);
    return row;
  }
}

/** The idempotency key of the task of one tick: a tick enqueued twice is one task. */
export function scheduledTaskKey(scheduledTaskId: string, scheduledFor: Date): string {
  return `scheduled:${scheduledTaskId}:${scheduledFor.toISOString()}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Submits the task of one tick of `row`, in `trx` (the scheduler's transaction that claims the
 * tick), the way a standalone task is submitted, and counts it (`total_runs`, `last_run_at`).
 * An object input gets `scheduled_for` (the tick, ISO 8601) unless it has that key already: a
 * caught-up tick runs late, and its task needs to know which tick it stands for. The task's
 * idempotency key is the tick's, so enqueuing the same tick again returns the first task and
 * counts nothing. Returns the task's id.
 */
export async function enqueueScheduledTask(
  trx: Db,
  dialect: DialectAdapter,
  row: ScheduledTaskRow,
  scheduledFor: Date,
): Promise<string> {
  const key = scheduledTaskKey(row.id, scheduledFor);
  const existing = await trx
    .selectFrom('tasks')
    .select('id')
    .where('owner_id', '=', row.owner_id)
    .where('idempotency_key', '=', key)
    .executeTakeFirst();
  if (existing !== undefined) return existing.id;
  const stored = fromDbJson(row.input_data) ?? {};
  const input =
    isPlainObject(stored) && !('scheduled_for' in stored)
      ? { ...stored, scheduled_for: scheduledFor.toISOString() }
      : stored;
  const prepared: PreparedTask = {
    capability: row.capability_required,
    taskType: row.task_type,
    input,
    priority: row.priority,
    timeoutSeconds: row.timeout_seconds,
    routingStrategy: 'round_robin',
  };
  const id = await insertTask(trx, dialect, row.owner_id, prepared, {
    idempotencyKey: key,
    scheduledTaskId: row.id,
  });
  const at = toDbTimestamp(new Date());
  await trx
    .updateTable('scheduled_tasks')
    .set((eb) => ({
      total_runs: eb('total_runs', '+', 1),
      last_run_at: toDbTimestamp(scheduledFor),
      updated_at: at,
    }))
    .where('id', '=', row.id)
    .execute();
  return id;
}

/**
 * Counts the end of tasks a schedule submitted: `successful_runs` or `failed_runs` of each
 * schedule grows by its tasks among `tasks` (the queue says which schedule each came from, so
 * the common case — no schedule — costs no statement). Runs in the transaction that ended them.
 */
export async function countScheduledOutcomes(
  trx: Db,
  tasks: readonly { scheduledTaskId: string | null }[],
  outcome: 'successful' | 'failed',
): Promise<void> {
  const counts = new Map<string, number>();
  for (const { scheduledTaskId: id } of tasks) if (id !== null) counts.set(id, (counts.get(id) ?? 0) + 1);
  const column = outcome === 'successful' ? 'successful_runs' : 'failed_runs';
  for (const [id, n] of counts) {
    await trx
      .updateTable('scheduled_tasks')
      .set((eb) => ({ [column]: eb(column, '+', n) }))
      .where('id', '=', id)
      .execute();
  }
}
