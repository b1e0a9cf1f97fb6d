import { sql, type Kysely } from 'kysely';
import type { SwarmDatabase } from '../schema-types.js';
import { toDbTimestamp } from '../values.js';

/**
 * What the periodic alert evaluations (src/alerts/) read: the tasks that ended since a
 * watermark, an agent's outcomes since its last success, its durations. And the lease on each
 * evaluation (`alert_evaluations`), so one process at a time runs it.
 */

type Db = Kysely<SwarmDatabase>;
export type EvaluationKind = 'tasks' | 'performance';

/**
 * Takes the evaluation for `leaseMs` if no other process holds it and its last pass ended at
 * least `intervalMs` ago; returns its watermark (where the last pass stopped), or null. One
 * statement (an upsert whose update is conditional), so of two processes one wins.
 */
export async function claimEvaluation(
  db: Db,
  kind: EvaluationKind,
  holder: string,
  options: {
    readonly now: Date;
    readonly leaseMs: number;
    readonly intervalMs: number;
    readonly start: Date;
  },
): Promise<string | null> {
  const at = toDbTimestamp(options.now);
  const until = toDbTimestamp(new Date(options.now.getTime() + options.leaseMs));
  const due = toDbTimestamp(new Date(options.now.getTime() - options.intervalMs));
  const row = await db
    .insertInto('alert_evaluations')
    .values({
      id: kind,
      watermark: toDbTimestamp(options.start),
      claimed_by: holder,
      claimed_until: until,
      updated_at: at,
    })
    .onConflict((oc) =>
      oc
        .column('id')
        .doUpdateSet({ claimed_by: holder, claimed_until: until })
        .where((eb) =>
          eb.and([
            eb.or([
              eb('alert_evaluations.claimed_until', 'is', null),
              eb('alert_evaluations.claimed_until', '<', at),
            ]),
            eb('alert_evaluations.updated_at', '<=', due),
          ]),
        ),
    )
    .returning('watermark')
    .executeTakeFirst();
  return row?.watermark ?? null;
}

/** Ends the holder's pass: moves the watermark and lets the lease go. False if it lost the lease. */
export async function finishEvaluation(
  db: Db,
  kind: EvaluationKind,
  holder: string,
  watermark: string,
  now: Date,
): Promise<boolean> {
  const result = await db
    .updateTable('alert_evaluations')
    .set({ watermark, claimed_by: null, claimed_until: null, updated_at: toDbTimestamp(now) })
    .where('id', '=', kind)
    .where('claimed_by', '=', holder)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Task outcomes the alerts look at: what ended, not what was cancelled, skipped or expired. */
const ENDED = ['COMPLETED', 'FAILED', 'TIMEOUT'];

/** A registered agent, as the alerts name it. */
export interface AgentRef {
  readonly agentId: string;
  readonly ownerId: string;
  readonly name: string;
  readonly version: string;
}

/**
 * The agents with a task that ended after `after` and at or before `upTo` (idx_tasks_completed),
 * at most `limit`: which agents have news. A task's agent is the one routing assigned, else the
 * registered agent it names; builtins have no row and are left out.
 */
export async function agentsEndedBetween(
  db: Db,
  after: string,
  upTo: string,
  limit: number,
  status: readonly string[] = ENDED,
): Promise<AgentRef[]> {
  const rows = await db
    .selectFrom('agents as a')
    .select(['a.id', 'a.owner_id', 'a.name', 'a.version'])
    .where((eb) => {
      const ended = () =>
        eb
          .selectFrom('tasks as t')
          .where('t.completed_at', 'is not', null)
          .where('t.completed_at', '>', after)
          .where('t.completed_at', '<=', upTo)
          .where('t.status', 'in', status);
      return eb.or([
        eb('a.id', 'in', ended().select('t.assigned_agent_id').where('t.assigned_agent_id', 'is not', null)),
        eb.exists(
          ended()
            .select(sql`1`.as('one'))
            .where('t.assigned_agent_id', 'is', null)
            .whereRef('t.owner_id', '=', 'a.owner_id')
            .whereRef('t.agent_name', '=', 'a.name')
            .whereRef('t.agent_version', '=', 'a.version'),
        ),
      ]);
    })
    .limit(limit)
    .execute();
  return rows.map((r) => ({ agentId: r.id, ownerId: r.owner_id, name: r.name, version: r.version }));
}

/** An agent's outcomes since its last completed task. */
export interface AgentStreak extends AgentRef {
  /** Whether its latest ended task completed: its alerts' causes have cleared. */
  readonly latestCompleted: boolean;
  /** Failed or timed out since then, budget refusals aside (they are not the agent's doing). */
  readonly failures: number;
  /** Timed out since then (its attempt ran out of time), lease losses aside. */
  readonly timeouts: number;
  /** Ended after losing its lease SWARM_MAX_LEASE_LOSSES times: it kills the workers running it. */
  readonly crashLoops: number;
  /** The latest of those tasks, its run, and when it ended. */
  readonly lastTaskId: string | null;
  readonly lastRunId: string | null;
  readonly lastEndedAt: string | null;
}

/**
 * The agent's ended tasks: those routing assigned it (idx_tasks_agent_completed) and those
 * naming it (idx_tasks_named_agent_completed), as two queries so each uses its index.
 */
function endedTasksOf(db: Db, agent: AgentRef) {
  const ended = () =>
    db.selectFrom('tasks').where('completed_at', 'is not', null).where('status', 'in', ENDED);
  return [
    ended().where('assigned_agent_id', '=', agent.agentId),
    ended()
      .where('assigned_agent_id', 'is', null)
      .where('agent_name', 'is not', null)
      .where('owner_id', '=', agent.ownerId)
      .where('agent_name', '=', agent.name)
      .where('agent_version', '=', agent.version),
  ];
}

export async function agentStreak(db: Db, agent: AgentRef): Promise<AgentStreak> {
  let since: string | null = null;
  for (const tasks of endedTasksOf(db, agent)) {
    const row = await tasks
      .select('completed_at')
      .where('status', '=', 'COMPLETED')
      .orderBy('completed_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (row?.completed_at != null && (since === null || row.completed_at > since)) since = row.completed_at;
  }
  let failures = 0;
  let timeouts = 0;
  let crashLoops = 0;
  let last: { id: string; run_id: string | null; completed_at: string } | undefined;
  for (const tasks of endedTasksOf(db, agent)) {
    let after = tasks.where('status', '<>', 'COMPLETED');
    if (since !== null) after = after.where('completed_at', '>', since);
    const counts = await after
      .select([
        sql<
          number | string | null
        >`sum(CASE WHEN status = 'FAILED' AND coalesce(error_code, '') <> 'BUDGET_EXCEEDED' THEN 1 WHEN status = 'TIMEOUT' THEN 1 ELSE 0 END)`.as(
          'failures',
        ),
        sql<
          number | string | null
        >`sum(CASE WHEN status = 'TIMEOUT' AND coalesce(error_code, '') <> 'LEASE_EXPIRED' THEN 1 ELSE 0 END)`.as(
          'timeouts',
        ),
        sql<number | string | null>`sum(CASE WHEN error_code = 'LEASE_EXPIRED' THEN 1 ELSE 0 END)`.as(
          'crash_loops',
        ),
        sql<number | string>`count(*)`.as('ended'),
      ])
      .executeTakeFirst();
    failures += Number(counts?.failures ?? 0);
    timeouts += Number(counts?.timeouts ?? 0);
    crashLoops += Number(counts?.crash_loops ?? 0);
    if (Number(counts?.ended ?? 0) === 0) continue;
    const latest = await after
      .select(['id', 'run_id', 'completed_at'])
      .orderBy('completed_at', 'desc')
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (latest !== undefined && (last === undefined || latest.completed_at! > last.completed_at))
      last = { id: latest.id, run_id: latest.run_id, completed_at: latest.completed_at! };
  }
  return {
    ...agent,
    latestCompleted: since !== null && last === undefined,
    failures,
    timeouts,
    crashLoops,
    lastTaskId: last?.id ?? null,
    lastRunId: last?.run_id ?? null,
    lastEndedAt: last?.completed_at ?? null,
  };
}

export interface BudgetRefusal {
  readonly taskId: string;
  readonly ownerId: string;
  readonly runId: string | null;
  readonly stepId: string | null;
  readonly agentId: string | null;
  readonly error: string | null;
  readonly completedAt: string;
}

/** Tasks refused a model call by a budget that ended after `after` and at or before `upTo`. */
export async function budgetRefusalsBetween(
  db: Db,
  after: string,
  upTo: string,
  limit: number,
): Promise<BudgetRefusal[]> {
  const rows = await db
    .selectFrom('tasks')
    .select(['id', 'owner_id', 'run_id', 'step_id', 'assigned_agent_id', 'error_message', 'completed_at'])
    .where('completed_at', 'is not', null)
    .where('completed_at', '>', after)
    .where('completed_at', '<=', upTo)
    .where('status', '=', 'FAILED')
    .where('error_code', '=', 'BUDGET_EXCEEDED')
    .orderBy('completed_at')
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    taskId: r.id,
    ownerId: r.owner_id,
    runId: r.run_id,
    stepId: r.step_id,
    agentId: r.assigned_agent_id,
    error: r.error_message,
    completedAt: r.completed_at!,
  }));
}

/**
 * The 95th percentile of an agent's completed tasks' durations that ended in (after, upTo],
 * over at most the latest `latest` of them; null with fewer than `minSamples`.
 */
export async function agentDurationP95(
  db: Db,
  agent: AgentRef,
  window: {
    readonly after: string;
    readonly upTo: string;
    readonly latest?: number;
    readonly minSamples: number;
  },
): Promise<{ p95: number; samples: number } | null> {
  const durations = endedTasksOf(db, agent).map((tasks) =>
    tasks
      .select('duration_ms')
      .where('completed_at', '>', window.after)
      .where('completed_at', '<=', window.upTo)
      .where('status', '=', 'COMPLETED')
      .where('duration_ms', 'is not', null),
  );
  if (window.latest !== undefined) {
    const latest = window.latest;
    const rows = (
      await Promise.all(
        durations.map((q) =>
          q.select('completed_at').orderBy('completed_at', 'desc').limit(latest).execute(),
        ),
      )
    )
      .flat()
      .sort((a, b) => (a.completed_at! < b.completed_at! ? 1 : -1))
      .slice(0, latest);
    const sorted = rows.map((r) => Number(r.duration_ms)).sort((a, b) => a - b);
    if (sorted.length < window.minSamples) return null;
    return { p95: sorted[Math.ceil(0.95 * sorted.length) - 1]!, samples: sorted.length };
  }
  // A baseline may be long: the durations are counted, then the percentile found by offset in
  // each half (an agent's tasks are nearly all routed or nearly all named: one half is tiny).
  const counts = await Promise.all(
    durations.map(async (q) =>
      Number(
        (
          await q
            .clearSelect()
            .select(sql<number | string>`count(*)`.as('n'))
            .executeTakeFirst()
        )?.n ?? 0,
      ),
    ),
  );
  const samples = counts[0]! + counts[1]!;
  if (samples < window.minSamples) return null;
  const rank = Math.ceil(0.95 * samples) - 1;
  if (counts[0] === 0 || counts[1] === 0) {
    const q = durations[counts[0] === 0 ? 1 : 0]!;
    const row = await q.orderBy('duration_ms').limit(1).offset(rank).executeTakeFirst();
    return row === undefined ? null : { p95: Number(row.duration_ms), samples };
  }
  const all = (await Promise.all(durations.map((q) => q.execute()))).flat();
  const sorted = all.map((r) => Number(r.duration_ms)).sort((a, b) => a - b);
  return { p95: sorted[rank]!, samples };
}
