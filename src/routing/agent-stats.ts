/**
 * Read-only figures about an owner's agents for the dashboard: the statistics recordOutcomes
 * keeps on each agent version (success rate, average duration, counts), remote agents' last
 * heartbeat, and the trust score's history from `trust_records`. Only the caller's own rows are
 * read; Swarm's builtin agents have no rows, so no figures.
 */
import { NotFoundError } from '../errors/index.js';
import type { Caller, Store } from '../storage/index.js';

export interface AgentVersionStats {
  readonly id: string;
  readonly name: string;
  readonly version: string;
  readonly status: string;
  readonly runtimeType: string;
  readonly trustScore: number;
  readonly healthScore: number;
  readonly tasksCompleted: number;
  readonly tasksFailed: number;
  /** Completed / finished attempts; null before the first one finished. */
  readonly successRate: number | null;
  /** Mean duration of completed attempts; null before the first one. */
  readonly avgDurationMs: number | null;
  /** Remote (http) agents: the last heartbeat; null for others or before the first one. */
  readonly lastSeenAt: string | null;
  readonly lastTaskCompletedAt: string | null;
}

export interface TrustPoint {
  readonly at: string;
  readonly version: string;
  readonly eventType: string;
  readonly before: number;
  readonly after: number;
  readonly delta: number;
  readonly reason: string | null;
}

/** Most trust changes one answer carries: a chart of the latest ones, not an export. */
export const MAX_TRUST_POINTS = 1000;

/** Statistics of each of the caller's agent versions (of `name` only when given), by name then creation. */
export async function agentStats(store: Store, caller: Caller, name?: string): Promise<AgentVersionStats[]> {
  let query = store.handle.db
    .selectFrom('agents')
    .select([
      'id',
      'name',
      'version',
      'status',
      'runtime_type',
      'trust_score',
      'health_score',
      'total_tasks_completed',
      'total_tasks_failed',
      'success_rate',
      'avg_completion_time_seconds',
      'last_seen_at',
      'last_task_completed_at',
    ])
    .where('owner_id', '=', caller.userId);
  if (name !== undefined) query = query.where('name', '=', name);
  const rows = await query.orderBy('name').orderBy('created_at').orderBy('id').execute();
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    version: row.version,
    status: row.status,
    runtimeType: row.runtime_type,
    trustScore: Number(row.trust_score),
    healthScore: Number(row.health_score),
    tasksCompleted: Number(row.total_tasks_completed),
    tasksFailed: Number(row.total_tasks_failed),
    successRate: row.success_rate === null ? null : Number(row.success_rate),
    avgDurationMs:
      row.avg_completion_time_seconds === null
        ? null
        : Math.round(Number(row.avg_completion_time_seconds) * 1000),
    lastSeenAt: row.last_seen_at,
    lastTaskCompletedAt: row.last_task_completed_at,
  }));
}

/**
 * The latest `limit` trust changes of the caller's agent `name` (every version), oldest first so
 * they chart left to right. A name the caller has no agent of is a 404, like the agent itself.
 */
export async function trustHistory(
  store: Store,
  caller: Caller,
  name: string,
  limit = 200,
): Promise<TrustPoint[]> {
  const { db } = store.handle;
  const agents = await db
    .selectFrom('agents')
    .select(['id'])
    .where('owner_id', '=', caller.userId)
    .where('name', '=', name)
    .execute();
  if (agents.length === 0) throw new NotFoundError('agent', name);
  const rows = await db
    .selectFrom('trust_records as r')
    .innerJoin('agents as a', 'a.id', 'r.agent_id')
    .select([
      'r.id',
      'r.created_at',
      'a.version',
      'r.event_type',
      'r.trust_score_before',
      'r.trust_score_after',
      'r.trust_delta',
      'r.reason',
    ])
    // Both sides by owner: a trust row is the agent owner's, never another's.
    .where('r.owner_id', '=', caller.userId)
    .where('a.owner_id', '=', caller.userId)
    .where('a.name', '=', name)
    .orderBy('r.created_at', 'desc')
    .orderBy('r.id', 'desc')
    .limit(Math.min(Math.max(limit, 1), MAX_TRUST_POINTS))
    .execute();
  return rows.reverse().map((row) => ({
    at: row.created_at,
    version: row.version,
    eventType: row.event_type,
    before: Number(row.trust_score_before),
    after: Number(row.trust_score_after),
    delta: Number(row.trust_delta),
    reason: row.reason,
  }));
}
