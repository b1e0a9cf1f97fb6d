import type { Kysely } from 'kysely';
import semver from 'semver';
import { BUILTIN_AGENTS } from '../registry/index.js';
import {
  ROUTING_STRATEGIES,
  toDbTimestamp,
  type DatabaseHandle,
  type DialectAdapter,
  type SwarmDatabase,
} from '../storage/index.js';
import { DEFAULT_MIN_HEALTH, DEFAULT_TRUST_THRESHOLD } from './policy.js';
import { pickCandidate, type Candidate, type RandomSource, type RoutingStrategy } from './strategies.js';

export interface RouteRequest {
  readonly ownerId: string;
  readonly capability: string;
  /** @default the task's `routing_strategy` when `task` is given, else round_robin */
  readonly strategy?: RoutingStrategy;
  /**
   * The task being routed, under the lease its worker holds: the choice is recorded as its
   * `assigned_agent_id` in the same transaction, and nothing is chosen if the lease moved on.
   */
  readonly task?: { readonly id: string; readonly leaseEpoch: number };
  /** @default DEFAULT_TRUST_THRESHOLD (0.2) */
  readonly trustThreshold?: number;
  /** @default DEFAULT_MIN_HEALTH (1) */
  readonly minHealth?: number;
  /** For `trust_weighted` and `random`. @default Math.random */
  readonly random?: RandomSource;
  /** @default new Date() */
  readonly now?: Date;
}

/** Why agents offering the capability were passed over (counted by agent name). */
export interface Exclusions {
  /** No version active (all inactive, disabled, deprecated, in maintenance or in error). */
  readonly notActive: number;
  /** The latest active version's health score is under the floor. */
  readonly unhealthy: number;
  /** The latest active version's trust score is under the threshold. */
  readonly lowTrust: number;
}

export interface RoutedAgent {
  /** The agents row; null for a builtin agent (they have no row, no trust and no stats). */
  readonly id: string | null;
  readonly name: string;
  readonly version: string;
}

export type RouteResult =
  | { readonly kind: 'agent'; readonly agent: RoutedAgent; readonly strategy: RoutingStrategy }
  | {
      readonly kind: 'none';
      readonly reason: string;
      readonly strategy: RoutingStrategy;
      readonly excluded: Exclusions;
    }
  /** The task's lease was lost (cancelled, reclaimed) before routing: nothing was chosen. */
  | { readonly kind: 'lost' };

const STRATEGIES: readonly string[] = ROUTING_STRATEGIES;

/**
 * Chooses the agent that runs a capability task, among the owner's agents offering it:
 * the latest active version of each agent name, healthy (health score ≥ minHealth) and trusted
 * (trust score ≥ trustThreshold), picked by the strategy (see pickCandidate). When the owner
 * has no registered agent offering the capability at all, a builtin agent offering it runs.
 *
 * One write transaction: it locks the task row (fenced by its lease epoch), then the candidate
 * agent rows (PostgreSQL `FOR UPDATE`; SQLite has one writer), stamps the chosen agent's
 * `last_assigned_at` and the task's `assigned_agent_id`. Concurrent routers therefore see each
 * other's choices, and round_robin spreads work across workers.
 */
export async function chooseAgent(handle: DatabaseHandle, request: RouteRequest): Promise<RouteResult> {
  const { db, dialect } = handle;
  const now = toDbTimestamp(request.now ?? new Date());
  return dialect.writeTransaction(db, async (trx) => {
    let strategy: RoutingStrategy = request.strategy ?? 'round_robin';
    if (request.task !== undefined) {
      const row = await trx
        .updateTable('tasks')
        .set({ updated_at: now })
        .where('id', '=', request.task.id)
        .where('lease_epoch', '=', request.task.leaseEpoch)
        .where('status', '=', 'RUNNING')
        .returning('routing_strategy')
        .executeTakeFirst();
      if (row === undefined) return { kind: 'lost' } as const;
      if (request.strategy === undefined && STRATEGIES.includes(row.routing_strategy))
        strategy = row.routing_strategy as RoutingStrategy;
    }
    const { candidates, excluded, offered } = await eligibleAgents(trx, dialect, request);
    if (candidates.length === 0) {
      const builtin = offered
        ? undefined
        : BUILTIN_AGENTS.find((m) => m.capabilities.includes(request.capability));
      if (builtin !== undefined)
        return {
          kind: 'agent',
          agent: { id: null, name: builtin.name, version: builtin.version },
          strategy,
        } as const;
      return { kind: 'none', reason: noAgentReason(request, excluded, offered), strategy, excluded } as const;
    }
    if (strategy === 'least_loaded') await addLoads(trx, candidates, request.task?.id);
    const chosen = pickCandidate(strategy, candidates, request.random);
    // Strictly after every candidate's last assignment, so routings in the same millisecond (or
    // on a machine whose clock lags) still rotate.
    const latest = Math.max(
      ...candidates.map((c) => (c.lastAssignedAt === null ? 0 : Date.parse(c.lastAssignedAt))),
    );
    const stamp = latest < Date.parse(now) ? now : toDbTimestamp(new Date(latest + 1));
    await trx.updateTable('agents').set({ last_assigned_at: stamp }).where('id', '=', chosen.id).execute();
    if (request.task !== undefined) {
      await trx
        .updateTable('tasks')
        .set({ assigned_agent_id: chosen.id })
        .where('id', '=', request.task.id)
        .execute();
    }
    return {
      kind: 'agent',
      agent: { id: chosen.id, name: chosen.name, version: chosen.version },
      strategy,
    } as const;
  });
}

function noAgentReason(request: RouteRequest, excluded: Exclusions, offered: boolean): string {
  if (!offered) return `no agent offers capability ${request.capability}`;
  const parts = [
    excluded.lowTrust > 0
      ? `${excluded.lowTrust} below trust threshold ${request.trustThreshold ?? DEFAULT_TRUST_THRESHOLD}`
      : '',
    excluded.unhealthy > 0 ? `${excluded.unhealthy} unhealthy` : '',
    excluded.notActive > 0 ? `${excluded.notActive} not active` : '',
  ].filter((p) => p !== '');
  return `no healthy agent offers capability ${request.capability} (${parts.join(', ')})`;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

async function eligibleAgents(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  request: RouteRequest,
): Promise<{ candidates: Mutable<Candidate>[]; excluded: Exclusions; offered: boolean }> {
  const query = trx
    .selectFrom('agents')
    .select([
      'id',
      'name',
      'version',
      'status',
      'trust_score',
      'health_score',
      'avg_completion_time_seconds',
      'last_assigned_at',
    ])
    .where('owner_id', '=', request.ownerId)
    .where(dialect.jsonArrayContains('capabilities', request.capability))
    .orderBy('id');
  const rows = await (dialect.capabilities.skipLocked ? query.forUpdate() : query).execute();
  const byName = new Map<string, typeof rows>();
  for (const row of rows) byName.set(row.name, [...(byName.get(row.name) ?? []), row]);
  const threshold = request.trustThreshold ?? DEFAULT_TRUST_THRESHOLD;
  const minHealth = request.minHealth ?? DEFAULT_MIN_HEALTH;
  const excluded = { notActive: 0, unhealthy: 0, lowTrust: 0 };
  const candidates: Mutable<Candidate>[] = [];
  for (const versions of byName.values()) {
    const active = versions.filter((v) => v.status === 'active' && semver.valid(v.version) !== null);
    const latest = active.sort((a, b) => semver.rcompare(a.version, b.version))[0];
    if (latest === undefined) excluded.notActive++;
    else if (latest.health_score < minHealth) excluded.unhealthy++;
    else if (latest.trust_score < threshold) excluded.lowTrust++;
    else
      candidates.push({
        id: latest.id,
        name: latest.name,
        version: latest.version,
        trustScore: latest.trust_score,
        healthScore: latest.health_score,
        avgCompletionTimeSeconds: latest.avg_completion_time_seconds,
        lastAssignedAt: latest.last_assigned_at,
        load: 0,
      });
  }
  return { candidates, excluded, offered: rows.length > 0 };
}

/** Each candidate's tasks ASSIGNED or RUNNING (idx_tasks_assigned_agent). */
async function addLoads(
  trx: Kysely<SwarmDatabase>,
  candidates: Mutable<Candidate>[],
  routing: string | undefined,
): Promise<void> {
  let query = trx
    .selectFrom('tasks')
    .select(['assigned_agent_id', (eb) => eb.fn.countAll<number | string>().as('n')])
    .where(
      'assigned_agent_id',
      'in',
      candidates.map((c) => c.id),
    )
    .where('status', 'in', ['ASSIGNED', 'RUNNING'])
    .groupBy('assigned_agent_id');
  // The task being routed may still name the agent of its previous attempt.
  if (routing !== undefined) query = query.where('id', '!=', routing);
  const rows = await query.execute();
  const loads = new Map(rows.map((r) => [r.assigned_agent_id, Number(r.n)]));
  for (const candidate of candidates) candidate.load = loads.get(candidate.id) ?? 0;
}
