import { sql, type Kysely } from 'kysely';
import { NotFoundError } from '../errors/index.js';
import type { Caller, SwarmDatabase } from '../storage/index.js';
import { chunksFor } from '../queue/index.js';
import type { DialectAdapter } from '../storage/index.js';

/**
 * Every attempt of a run's tasks, for the dashboard's waterfall. A task is one row however often
 * it is tried; each ended claim of it leaves a `worker_assignments` row (src/queue/assignments.ts)
 * except the one that completed it, which, like the running one, is read from the task row.
 * An attempt here is one claim: queued since the previous claim ended (or the task was created),
 * started when claimed, completed when the claim ended. A task still waiting for a worker gets
 * one more entry with status `queued` and no start.
 */
export interface AttemptView {
  readonly taskId: string;
  /** The step as the definition names it (a retried run's older tasks carry `step@attempt`). */
  readonly stepId: string;
  /** The run attempt the task belongs to: null for the run's current attempt. */
  readonly runAttempt: number | null;
  /** The for_each item, if the step fans out. */
  readonly itemIndex: number | null;
  /** 1, 2, … per task: its claims in order. */
  readonly attempt: number;
  /** queued, running, completed, failed, timeout, cancelled, lost (lease expired), released (handed back untried: a sleep or a shutdown). */
  readonly status: string;
  readonly queuedAt: string;
  readonly startedAt: string | null;
  readonly completedAt: string | null;
  readonly workerId: string | null;
  readonly error: string | null;
}

export interface AttemptQuery {
  /** Only this step's tasks (as the definition names it). */
  readonly step?: string;
  /** Tasks per page (each with all its attempts). @default 1000 */
  readonly limit?: number;
  /** Only tasks after this task id (ids are UUIDv7, so they sort by creation). */
  readonly after?: string;
}

export interface AttemptPage {
  readonly items: AttemptView[];
  /** The last task id of the page when there may be more: pass it as `after`. */
  readonly next: string | null;
}

type TaskRow = {
  id: string;
  step_id: string | null;
  item_index: number | null;
  status: string;
  created_at: string;
  error_message: string | null;
  last_error: string | null;
  worker_id: string | null;
  assigned_at: string | null;
  started_at: string | null;
  completed_at: string | null;
  lease_epoch: number;
};
type AssignmentRow = {
  task_id: string;
  lease_epoch: number;
  worker_id: string;
  status: string;
  assigned_at: string;
  released_at: string | null;
};

function splitStep(stepId: string): { stepId: string; runAttempt: number | null } {
  const at = stepId.lastIndexOf('@');
  if (at < 0) return { stepId, runAttempt: null };
  const n = Number(stepId.slice(at + 1));
  return Number.isInteger(n) ? { stepId: stepId.slice(0, at), runAttempt: n } : { stepId, runAttempt: null };
}

/** The attempts of one task, from its row and its claims in order. Exported for tests. */
export function attemptsOf(task: TaskRow, claims: readonly AssignmentRow[]): AttemptView[] {
  const { stepId, runAttempt } = splitStep(task.step_id ?? '');
  const base = { taskId: task.id, stepId, runAttempt, itemIndex: task.item_index };
  const out: AttemptView[] = [];
  let queuedAt = task.created_at;
  claims.forEach((claim, i) => {
    const last = i === claims.length - 1;
    let status: string;
    let error: string | null = null;
    if (claim.status === 'running') status = 'running';
    else if (claim.status === 'lost') status = 'lost';
    else if (claim.status === 'released')
      status = last && task.status === 'CANCELLED' ? 'cancelled' : 'released';
    else if (last && task.status === 'COMPLETED') status = 'completed';
    else if (last && task.status === 'TIMEOUT') status = 'timeout';
    else {
      // Ended with an outcome that was not the task's completion: it failed (and was retried,
      // unless it was the last). Only the latest failure's text is kept on the task.
      status = 'failed';
      if (last) error = task.error_message ?? task.last_error;
    }
    if (last && status === 'timeout') error = task.error_message ?? task.last_error;
    out.push({
      ...base,
      attempt: i + 1,
      status,
      queuedAt,
      startedAt: claim.assigned_at,
      completedAt: claim.released_at,
      workerId: claim.worker_id,
      error,
    });
    queuedAt = claim.released_at ?? claim.assigned_at;
  });
  const open = claims.length === 0 || claims[claims.length - 1]!.status !== 'running';
  if (open && (task.status === 'PENDING' || task.status === 'ASSIGNED' || claims.length === 0)) {
    const status =
      task.status === 'CANCELLED' ? 'cancelled' : task.status === 'SKIPPED' ? 'skipped' : 'queued';
    out.push({
      ...base,
      attempt: claims.length + 1,
      status,
      queuedAt,
      startedAt: null,
      completedAt: status === 'queued' ? null : queuedAt,
      workerId: null,
      error: null,
    });
  }
  return out;
}

export async function listRunAttempts(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  caller: Caller,
  runId: string,
  query: AttemptQuery = {},
): Promise<AttemptPage> {
  const run = await db
    .selectFrom('workflow_runs')
    .select('id')
    .where('id', '=', runId)
    .where('owner_id', '=', caller.userId)
    .executeTakeFirst();
  if (run === undefined) throw new NotFoundError('run', runId);
  const limit = query.limit ?? 1000;
  let tasks = db
    .selectFrom('tasks')
    .select([
      'id',
      'step_id',
      'item_index',
      'status',
      'created_at',
      'error_message',
      'last_error',
      'worker_id',
      'assigned_at',
      'started_at',
      'completed_at',
      'lease_epoch',
    ])
    .where('run_id', '=', runId)
    .where('owner_id', '=', caller.userId);
  if (query.step !== undefined) {
    // `step` or a retried run's `step@n` (no LIKE: step ids may hold `_`, a LIKE wildcard).
    const prefix = `${query.step}@`;
    tasks = tasks.where((eb) =>
      eb.or([
        eb('step_id', '=', query.step!),
        eb(sql<string>`substr(step_id, 1, ${prefix.length})`, '=', prefix),
      ]),
    );
  }
  if (query.after !== undefined) tasks = tasks.where('id', '>', query.after);
  const rows = (await tasks
    .orderBy('id')
    .limit(limit + 1)
    .execute()) as TaskRow[];
  const more = rows.length > limit;
  const page = more ? rows.slice(0, limit) : rows;
  const claims = new Map<string, AssignmentRow[]>();
  for (const chunk of chunksFor(
    dialect,
    page.map((t) => t.id),
    1,
  )) {
    const found = (await db
      .selectFrom('worker_assignments')
      .select(['task_id', 'lease_epoch', 'worker_id', 'status', 'assigned_at', 'released_at'])
      .where('task_id', 'in', chunk)
      .orderBy('assigned_at')
      .orderBy('id')
      .execute()) as AssignmentRow[];
    for (const claim of found)
      (claims.get(claim.task_id) ?? claims.set(claim.task_id, []).get(claim.task_id)!).push(claim);
  }
  for (const task of page) {
    const last = lastAttemptOf(task, claims.get(task.id) ?? []);
    if (last !== null) (claims.get(task.id) ?? claims.set(task.id, []).get(task.id)!).push(last);
  }
  return {
    items: page.flatMap((task) => attemptsOf(task, claims.get(task.id) ?? [])),
    next: more ? page[page.length - 1]!.id : null,
  };
}

/**
 * The attempt the task row carries and no assignment row does: the running one (its row is
 * written when it ends), or the one that completed the task (it never gets a row). Completed
 * tasks from before that rule have a row at their epoch, and are not shown twice.
 */
function lastAttemptOf(task: TaskRow, claims: readonly AssignmentRow[]): AssignmentRow | null {
  const assignedAt = task.assigned_at ?? task.started_at;
  if (task.worker_id === null || assignedAt === null) return null;
  const base = {
    task_id: task.id,
    lease_epoch: task.lease_epoch,
    worker_id: task.worker_id,
    assigned_at: assignedAt,
  };
  if (task.status === 'RUNNING') return { ...base, status: 'running', released_at: null };
  if (task.status !== 'COMPLETED' || claims.some((c) => c.lease_epoch === task.lease_epoch)) return null;
  return { ...base, status: 'completed', released_at: task.completed_at };
}
