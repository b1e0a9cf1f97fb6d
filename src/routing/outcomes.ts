import type { Kysely } from 'kysely';
import type { BatchHook, CompletedTask, TaskAgentRef } from '../queue/index.js';
import { chunksFor } from '../queue/index.js';
import {
  agentsNamed,
  isBuiltinAgent,
  newId,
  toDbTimestamp,
  type DatabaseHandle,
  type DialectAdapter,
  type SwarmDatabase,
} from '../storage/index.js';
import {
  DEFAULT_TRUST_POLICY,
  nextHealth,
  nextTrust,
  roundScore,
  type AttemptResult,
  type TrustPolicy,
} from './policy.js';

/** One finished attempt of a task. */
export interface AttemptOutcome {
  readonly taskId: string;
  readonly result: AttemptResult;
  /** How long a completed attempt took; feeds the agent's average. */
  readonly durationMs?: number | null;
  /**
   * The task's agent and owner, when the caller has them from the row it just changed (a
   * completion's RETURNING): the agents are then found without reading the tasks again.
   */
  readonly agent?: TaskAgentRef & { readonly ownerId: string };
}

/** One change of one agent's trust score, as written to `trust_records`. */
export interface TrustChange {
  readonly agentId: string;
  readonly taskId: string;
  readonly eventType: 'task_completed' | 'task_failed' | 'task_timeout';
  readonly before: number;
  readonly after: number;
  readonly delta: number;
}

const EVENT_TYPES = {
  completed: 'task_completed',
  failed: 'task_failed',
  timeout: 'task_timeout',
} as const;

const REASONS = {
  completed: 'attempt completed',
  failed: 'attempt failed',
  timeout: 'attempt timed out',
} as const;

/**
 * Brings the agents that ran these attempts up to date, in the caller's transaction: counts
 * (`total_tasks_completed` / `total_tasks_failed`, attempts), `success_rate`, the running
 * `avg_completion_time_seconds` of completed attempts, `health_score`, `last_task_completed_at`,
 * and the trust score by `policy`, writing one `trust_records` row per change of the score
 * (none when it is already at the bound it would cross). The agent of a task is the one routing
 * assigned (`assigned_agent_id`), else the registered agent it names; builtin agents have no
 * row and are skipped.
 *
 * Three statements per batch plus one UPDATE per agent: read the tasks' agents, lock those agent
 * rows (PostgreSQL `FOR UPDATE`, in id order so concurrent batches cannot deadlock), write.
 */
export async function recordOutcomes(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  outcomes: readonly AttemptOutcome[],
  options: { policy?: TrustPolicy; now?: Date } = {},
): Promise<TrustChange[]> {
  if (outcomes.length === 0) return [];
  const policy = options.policy ?? DEFAULT_TRUST_POLICY;
  const now = toDbTimestamp(options.now ?? new Date());
  const agentOf = outcomes.every((o) => o.agent !== undefined)
    ? await agentsByRef(trx, dialect, outcomes)
    : await agentsByTask(trx, dialect, outcomes);
  if (agentOf.size === 0) return [];

  const ids = [...new Set(agentOf.values())].sort();
  const agents = new Map<
    string,
    {
      owner_id: string;
      trust_score: number;
      health_score: number;
      total_tasks_completed: number;
      total_tasks_failed: number;
      avg_completion_time_seconds: number | null;
      completedNow: boolean;
    }
  >();
  for (const chunk of chunksFor(dialect, ids, 1)) {
    const query = trx
      .selectFrom('agents')
      .select([
        'id',
        'owner_id',
        'trust_score',
        'health_score',
        'total_tasks_completed',
        'total_tasks_failed',
        'avg_completion_time_seconds',
      ])
      .where('id', 'in', chunk)
      .orderBy('id');
    for (const row of await (dialect.capabilities.skipLocked ? query.forUpdate() : query).execute())
      agents.set(row.id, { ...row, completedNow: false });
  }

  const changes: TrustChange[] = [];
  for (const outcome of outcomes) {
    const agentId = agentOf.get(outcome.taskId);
    const agent = agentId === undefined ? undefined : agents.get(agentId);
    if (agentId === undefined || agent === undefined) continue;
    if (outcome.result === 'completed') {
      agent.total_tasks_completed++;
      agent.completedNow = true;
      if (outcome.durationMs !== undefined && outcome.durationMs !== null) {
        const seconds = outcome.durationMs / 1000;
        const avg = agent.avg_completion_time_seconds;
        agent.avg_completion_time_seconds =
          avg === null ? seconds : avg + (seconds - avg) / agent.total_tasks_completed;
      }
    } else agent.total_tasks_failed++;
    agent.health_score = nextHealth(agent.health_score, outcome.result);
    const { after, delta } = nextTrust(agent.trust_score, outcome.result, policy);
    if (delta !== 0) {
      changes.push({
        agentId,
        taskId: outcome.taskId,
        eventType: EVENT_TYPES[outcome.result],
        before: agent.trust_score,
        after,
        delta,
      });
    }
    agent.trust_score = after;
  }

  for (const [id, agent] of agents) {
    const finished = agent.total_tasks_completed + agent.total_tasks_failed;
    await trx
      .updateTable('agents')
      .set({
        trust_score: agent.trust_score,
        health_score: agent.health_score,
        total_tasks_completed: agent.total_tasks_completed,
        total_tasks_failed: agent.total_tasks_failed,
        success_rate: finished === 0 ? null : agent.total_tasks_completed / finished,
        avg_completion_time_seconds: agent.avg_completion_time_seconds,
        ...(agent.completedNow ? { last_task_completed_at: now } : {}),
        updated_at: now,
      })
      .where('id', '=', id)
      .execute();
  }
  const records = changes.map((change) => ({
    id: newId(),
    owner_id: agents.get(change.agentId)!.owner_id,
    agent_id: change.agentId,
    event_type: change.eventType,
    task_id: change.taskId,
    trust_delta: change.delta,
    trust_score_before: change.before,
    trust_score_after: change.after,
    reason: `${REASONS[resultOf(change.eventType)]} (${change.delta > 0 ? '+' : ''}${change.delta})`,
    created_at: now,
  }));
  for (const chunk of chunksFor(dialect, records, 10))
    await trx.insertInto('trust_records').values(chunk).execute();
  return changes;
}

function resultOf(eventType: TrustChange['eventType']): AttemptResult {
  return eventType === 'task_completed' ? 'completed' : eventType === 'task_timeout' ? 'timeout' : 'failed';
}

/** recordOutcomes in a write transaction of its own (a failed attempt, which the queue records apart). */
export async function recordOutcome(
  handle: DatabaseHandle,
  outcome: AttemptOutcome,
  options: { policy?: TrustPolicy; now?: Date } = {},
): Promise<TrustChange[]> {
  return handle.dialect.writeTransaction(handle.db, (trx) =>
    recordOutcomes(trx, handle.dialect, [outcome], options),
  );
}

/** Each task's agent id, read with the tasks (the row holds the routed or named agent). */
async function agentsByTask(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  outcomes: readonly AttemptOutcome[],
): Promise<Map<string, string>> {
  const agentOf = new Map<string, string>();
  for (const chunk of chunksFor(dialect, [...new Set(outcomes.map((o) => o.taskId))], 1)) {
    const rows = await trx
      .selectFrom('tasks as t')
      .leftJoin('agents as routed', 'routed.id', 't.assigned_agent_id')
      .leftJoin('agents as named', (join) =>
        join
          .onRef('named.owner_id', '=', 't.owner_id')
          .onRef('named.name', '=', 't.agent_name')
          .onRef('named.version', '=', 't.agent_version'),
      )
      .select(['t.id', 'routed.id as routed_id', 'named.id as named_id'])
      .where('t.id', 'in', chunk)
      .execute();
    for (const row of rows) {
      const agentId = row.routed_id ?? row.named_id;
      if (agentId !== null) agentOf.set(row.id, agentId);
    }
  }
  return agentOf;
}

/**
 * Each task's agent id from the refs the caller read with the tasks: the routed agent's id as
 * is, the named ones looked up once per distinct (owner, name, version) — a batch of a thousand
 * tasks of one agent is one small lookup, not a join over a thousand tasks.
 */
async function agentsByRef(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  outcomes: readonly AttemptOutcome[],
): Promise<Map<string, string>> {
  const agentOf = new Map<string, string>();
  const named = new Map<string, { ownerId: string; name: string; version: string; tasks: string[] }>();
  for (const { taskId, agent } of outcomes) {
    if (agent === undefined) continue;
    if (agent.assignedAgentId !== null) agentOf.set(taskId, agent.assignedAgentId);
    else if (agent.name !== null && agent.version !== null && !isBuiltinAgent(agent.name)) {
      const key = refKey(agent.ownerId, agent.name, agent.version);
      const entry = named.get(key);
      if (entry === undefined)
        named.set(key, { ownerId: agent.ownerId, name: agent.name, version: agent.version, tasks: [taskId] });
      else entry.tasks.push(taskId);
    }
  }
  if (named.size === 0) return agentOf;
  for (const row of await agentsNamed(trx, dialect, [...named.values()]))
    for (const taskId of named.get(refKey(row.owner_id, row.name, row.version))?.tasks ?? [])
      agentOf.set(taskId, row.id);
  return agentOf;
}

/** One string per (owner, name, version): NUL appears in none of them. */
function refKey(ownerId: string, name: string, version: string): string {
  return `${ownerId}\u0000${name}\u0000${version}`;
}

/**
 * A completion hook that also brings the agents of the completed tasks up to date, in the same
 * transaction as the completions: it runs `hook` (the engine's), then recordOutcomes.
 */
export function withAgentOutcomes(
  dialect: DialectAdapter,
  hook: BatchHook<readonly CompletedTask[]> | undefined,
  options: { policy?: TrustPolicy } = {},
): BatchHook<readonly CompletedTask[]> {
  return async (trx, tasks, prepared) => {
    await hook?.(trx, tasks, prepared);
    await recordOutcomes(
      trx,
      dialect,
      tasks.map((t) => ({
        taskId: t.id,
        result: 'completed' as const,
        durationMs: t.durationMs,
        // Field by field: a spread per task was a fifth of this hook's time in a no-op drain.
        agent: {
          assignedAgentId: t.agent.assignedAgentId,
          name: t.agent.name,
          version: t.agent.version,
          ownerId: t.ownerId,
        },
      })),
      options,
    );
  };
}

/**
 * Sets an agent's trust score by hand (an operator re-admitting an agent under the threshold,
 * say), writing a `manual_adjustment` trust record. Returns the change, or null when the score
 * is already that (nothing written). Throws when the owner has no such agent.
 */
export async function adjustTrust(
  handle: DatabaseHandle,
  request: { ownerId: string; agentId: string; score: number; reason: string; now?: Date },
): Promise<{ before: number; after: number; delta: number } | null> {
  if (!(request.score >= 0 && request.score <= 1))
    throw new RangeError('score: must be a number from 0 to 1');
  const now = toDbTimestamp(request.now ?? new Date());
  return handle.dialect.writeTransaction(handle.db, async (trx) => {
    const query = trx
      .selectFrom('agents')
      .select('trust_score')
      .where('id', '=', request.agentId)
      .where('owner_id', '=', request.ownerId);
    const row = await (handle.dialect.capabilities.skipLocked ? query.forUpdate() : query).executeTakeFirst();
    if (row === undefined) throw new RangeError(`agent ${request.agentId} not found`);
    const after = roundScore(request.score);
    const delta = roundScore(after - row.trust_score);
    if (delta === 0) return null;
    await trx
      .updateTable('agents')
      .set({ trust_score: after, updated_at: now })
      .where('id', '=', request.agentId)
      .execute();
    await trx
      .insertInto('trust_records')
      .values({
        id: newId(),
        owner_id: request.ownerId,
        agent_id: request.agentId,
        event_type: 'manual_adjustment',
        task_id: null,
        trust_delta: delta,
        trust_score_before: row.trust_score,
        trust_score_after: after,
        reason: request.reason,
        created_at: now,
      })
      .execute();
    return { before: row.trust_score, after, delta };
  });
}
