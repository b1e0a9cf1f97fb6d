import type { Kysely } from 'kysely';
import { toDbTimestamp, type SwarmDatabase } from '../storage/index.js';

/** Task statuses still on the queue: waiting, or held by a worker. Ended tasks are history. */
export const QUEUED_STATUSES = ['PENDING', 'ASSIGNED', 'RUNNING'] as const;

export interface DepthRow {
  readonly status: string;
  readonly priority: number;
  readonly count: number;
}

/**
 * The queue's depth now, by status and priority: one grouped query over the tasks still on the
 * queue (the ended ones are left out, so it stays cheap however long the history). `ownerId`
 * limits it to one owner's tasks (the overview); without it, every owner's (/metrics, admin).
 */
export async function queueDepth(db: Kysely<SwarmDatabase>, ownerId?: string): Promise<DepthRow[]> {
  const rows = await db
    .selectFrom('tasks')
    .select(['status', 'priority', (eb) => eb.fn.countAll<number | string>().as('count')])
    .where('status', 'in', [...QUEUED_STATUSES])
    .$if(ownerId !== undefined, (q) => q.where('owner_id', '=', ownerId!))
    .groupBy(['status', 'priority'])
    .execute();
  return rows
    .map((r) => ({ status: r.status, priority: Number(r.priority), count: Number(r.count) }))
    .sort((a, b) => (a.status === b.status ? b.priority - a.priority : a.status < b.status ? -1 : 1));
}

/**
 * Workers active now: distinct worker ids holding a live lease. A worker with nothing to do
 * holds none and is not counted — there is no registry of idle workers, in-process or remote.
 */
export async function activeWorkers(
  db: Kysely<SwarmDatabase>,
  ownerId?: string,
  now = new Date(),
): Promise<number> {
  const row = await db
    .selectFrom('tasks')
    .select((eb) => eb.fn.count<number | string>('locked_by').distinct().as('n'))
    .where('status', 'in', ['ASSIGNED', 'RUNNING'])
    .where('locked_until', '>', toDbTimestamp(now))
    .$if(ownerId !== undefined, (q) => q.where('owner_id', '=', ownerId!))
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** Runs by status, every owner's: the final statuses count every run that ever ended. */
export async function runsByStatus(
  db: Kysely<SwarmDatabase>,
): Promise<Array<{ status: string; count: number }>> {
  const rows = await db
    .selectFrom('workflow_runs')
    .select(['status', (eb) => eb.fn.countAll<number | string>().as('count')])
    .groupBy('status')
    .execute();
  return rows.map((r) => ({ status: r.status, count: Number(r.count) }));
}

/**
 * Flow control (src/queue/flow): live slots and parked tasks, every owner's, per key scope —
 * four scopes at most, so the gauges' label cardinality stays fixed however many keys exist.
 */
export async function flowTotalsByScope(
  db: Kysely<SwarmDatabase>,
): Promise<{ scope: string; running: number; waiting: number }[]> {
  const live = await db
    .selectFrom('flow_slots as s')
    .innerJoin('flow_keys as k', 'k.key', 's.key')
    .innerJoin('tasks as t', (join) =>
      join
        .onRef('t.id', '=', 's.task_id')
        .onRef('t.lease_epoch', '=', 's.lease_epoch')
        .on('t.status', '=', 'RUNNING'),
    )
    .select(['k.scope', (eb) => eb.fn.countAll<number | string>().as('n')])
    .groupBy('k.scope')
    .execute();
  // A task's first key counts it from its own row (src/queue/flow/slots.ts, runningCounts).
  const first = await db
    .selectFrom('tasks as t')
    .innerJoin('flow_keys as k', 'k.key', 't.concurrency_key')
    .select(['k.scope', (eb) => eb.fn.countAll<number | string>().as('n')])
    .where('t.status', '=', 'RUNNING')
    .where('t.concurrency_key', 'is not', null)
    .where('k.max_running', 'is not', null)
    .groupBy('k.scope')
    .execute();
  const parked = await db
    .selectFrom('tasks as t')
    .innerJoin('flow_keys as k', 'k.key', 't.parked_key')
    .select(['k.scope', (eb) => eb.fn.countAll<number | string>().as('n')])
    .where('t.status', '=', 'PENDING')
    .where('t.parked_key', 'is not', null)
    .groupBy('k.scope')
    .execute();
  const totals = new Map<string, { running: number; waiting: number }>();
  const of = (scope: string) =>
    totals.get(scope) ?? totals.set(scope, { running: 0, waiting: 0 }).get(scope)!;
  for (const row of [...live, ...first]) of(row.scope).running += Number(row.n);
  for (const row of parked) of(row.scope).waiting = Number(row.n);
  return [...totals].map(([scope, t]) => ({ scope, ...t }));
}
