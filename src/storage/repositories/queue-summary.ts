import { sql, type Kysely } from 'kysely';
import type { Caller } from '../caller.js';
import { TASK_STATUSES } from '../migrations/index.js';
import type { SwarmDatabase } from '../schema-types.js';
import { toDbBool } from '../values.js';

export type TaskStatus = (typeof TASK_STATUSES)[number];

/** The oldest task that could run now but has not been claimed yet. */
export interface OldestWaiting {
  readonly taskId: string;
  readonly runId: string | null;
  readonly stepId: string | null;
  readonly agent: string | null;
  readonly capability: string | null;
  /** Claimable since then (its creation, or the moment its retry back-off ended). */
  readonly waitingSince: string;
  readonly ageMs: number;
}

export interface WorkerAssignment {
  readonly taskId: string;
  readonly runId: string | null;
  readonly stepId: string | null;
  readonly agent: string | null;
  readonly taskStatus: string;
  readonly assignedAt: string;
  readonly heartbeatAt: string | null;
}

export interface WorkerSummary {
  readonly workerId: string;
  readonly hostname: string | null;
  readonly pid: number | null;
  readonly lastHeartbeatAt: string | null;
  readonly assignments: readonly WorkerAssignment[];
}

export interface QueueSummary {
  readonly generatedAt: string;
  /** Every status, 0 when the caller has no task in it. */
  readonly depth: Readonly<Record<TaskStatus, number>>;
  /** PENDING split by why it waits: claimable now, back-off or `run_at` not reached, dependencies. */
  readonly pending: { readonly ready: number; readonly delayed: number; readonly blocked: number };
  readonly oldestWaiting: OldestWaiting | null;
  readonly workers: readonly WorkerSummary[];
  /** True when there were more running assignments than `maxAssignments` and the rest were left out. */
  readonly assignmentsTruncated: boolean;
}

/** Largest number of running assignments listed (a 10,000-item fan-out must not make a huge answer). */
export const MAX_QUEUE_ASSIGNMENTS = 500;

/**
 * The queue as one owner sees it: its tasks (standalone and run steps) counted by status, the
 * oldest claimable one, and the workers holding its tasks now. Workers are shown only through
 * the caller's own assignments: another owner's work on the same worker is invisible here.
 */
export async function queueSummary(
  db: Kysely<SwarmDatabase>,
  caller: Caller,
  now: Date = new Date(),
  maxAssignments = MAX_QUEUE_ASSIGNMENTS,
): Promise<QueueSummary> {
  const nowText = now.toISOString();
  const owner = caller.userId;

  const byStatus = await db
    .selectFrom('tasks')
    .select(['status', db.fn.countAll<number | string>().as('n')])
    .where('owner_id', '=', owner)
    .groupBy('status')
    .execute();
  const depth = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>;
  for (const row of byStatus)
    if ((TASK_STATUSES as readonly string[]).includes(row.status))
      depth[row.status as TaskStatus] = Number(row.n);

  // One pass over the PENDING rows: a CASE per kind, so both dialects answer the same way.
  const blocked = toDbBool(true);
  const split = await db
    .selectFrom('tasks')
    .select([
      sql<number | string | null>`sum(case when is_blocked = ${blocked} then 1 else 0 end)`.as('blocked'),
      sql<
        number | string | null
      >`sum(case when is_blocked <> ${blocked} and run_at > ${nowText} then 1 else 0 end)`.as('delayed'),
      sql<
        number | string | null
      >`sum(case when is_blocked <> ${blocked} and run_at <= ${nowText} then 1 else 0 end)`.as('ready'),
    ])
    .where('owner_id', '=', owner)
    .where('status', '=', 'PENDING')
    .executeTakeFirst();

  const oldest = await db
    .selectFrom('tasks')
    .select(['id', 'run_id', 'step_id', 'agent_name', 'agent_version', 'capability_required', 'run_at'])
    .where('owner_id', '=', owner)
    .where('status', '=', 'PENDING')
    .where('is_blocked', '=', toDbBool(false))
    .where('run_at', '<=', nowText)
    .orderBy('run_at')
    .orderBy('id')
    .limit(1)
    .executeTakeFirst();

  // The caller's tasks held right now, with the worker holding each.
  // The running attempts are the RUNNING tasks themselves (their assignment row is written
  // when they end). Worker ids do not carry hostname or pid, so those are unknown here.
  const held = await db
    .selectFrom('tasks as t')
    .select([
      sql<string>`t.worker_id`.as('worker_id'),
      sql<string | null>`cast(null as text)`.as('hostname'),
      sql<number | null>`cast(null as integer)`.as('pid'),
      sql<string>`t.assigned_at`.as('assigned_at'),
      't.heartbeat_at',
      't.id as task_id',
      't.run_id',
      't.step_id',
      't.agent_name',
      't.agent_version',
      't.status as task_status',
    ])
    .where('t.owner_id', '=', owner)
    .where('t.status', '=', 'RUNNING')
    .where('t.worker_id', 'is not', null)
    .orderBy('t.worker_id')
    .orderBy('t.assigned_at')
    .orderBy('t.id')
    .limit(maxAssignments + 1)
    .execute();

  const workers = new Map<string, { summary: WorkerSummary; assignments: WorkerAssignment[] }>();
  for (const row of held.slice(0, maxAssignments)) {
    let entry = workers.get(row.worker_id);
    if (entry === undefined) {
      const assignments: WorkerAssignment[] = [];
      entry = {
        assignments,
        summary: {
          workerId: row.worker_id,
          hostname: row.hostname,
          pid: row.pid,
          lastHeartbeatAt: null,
          assignments,
        },
      };
      workers.set(row.worker_id, entry);
    }
    entry.assignments.push({
      taskId: row.task_id,
      runId: row.run_id,
      stepId: row.step_id,
      agent: agentOf(row.agent_name, row.agent_version),
      taskStatus: row.task_status,
      assignedAt: row.assigned_at,
      heartbeatAt: row.heartbeat_at,
    });
  }

  return {
    generatedAt: nowText,
    depth,
    pending: {
      ready: Number(split?.ready ?? 0),
      delayed: Number(split?.delayed ?? 0),
      blocked: Number(split?.blocked ?? 0),
    },
    oldestWaiting:
      oldest === undefined
        ? null
        : {
            taskId: oldest.id,
            runId: oldest.run_id,
            stepId: oldest.step_id,
            agent: agentOf(oldest.agent_name, oldest.agent_version),
            capability: oldest.capability_required,
            waitingSince: toIso(oldest.run_at),
            ageMs: Math.max(0, now.getTime() - Date.parse(toIso(oldest.run_at))),
          },
    workers: [...workers.values()].map(({ summary, assignments }) => ({
      ...summary,
      lastHeartbeatAt: latest(assignments.map((a) => a.heartbeatAt)),
    })),
    assignmentsTruncated: held.length > maxAssignments,
  };
}

function agentOf(name: string | null, version: string | null): string | null {
  if (name === null) return null;
  return version === null ? name : `${name}@${version}`;
}

function toIso(value: string | Date): string {
  return value instanceof Date ? value.toISOString() : value;
}

function latest(times: readonly (string | null)[]): string | null {
  let best: string | null = null;
  for (const t of times) if (t !== null && (best === null || Date.parse(t) > Date.parse(best))) best = t;
  return best;
}
