import { sql, type Kysely } from 'kysely';
import type { SwarmDatabase } from '../../storage/index.js';

/**
 * Fairness between owners (docs/flow-control.md): when several owners have ready unkeyed work,
 * a claim takes from each in turn instead of strictly by priority across all of them, so one
 * owner's backlog of 100,000 never delays another's single task by more than a claim.
 *
 * Which owners have ready work is looked up at most every PROBE_MS per database (a loose index
 * scan over idx_tasks_ready_owner, one probe per owner), with their weights (users.claim_weight,
 * set by an admin): one owner alone (the common case) costs the claim nothing more than that,
 * and an owner whose work just arrived gets its turn within PROBE_MS (meanwhile the claim is the
 * plain one, by priority).
 */
const PROBE_MS = 1000;
/** Owners looked up per probe: a claim takes from at most `limit` of them anyway. */
const MAX_OWNERS = 64;

interface Probe {
  owners: OwnerTurn[];
  at: number;
  turn: number;
}

interface OwnerTurn {
  readonly ownerId: string;
  /** 1 unless an admin set another. */
  readonly weight: number;
}

/** One owner's part of a claim. */
export interface OwnerShare {
  readonly ownerId: string;
  /** Tasks to take from it, at most. */
  readonly share: number;
}
const probes = new WeakMap<object, Probe>();

/**
 * The owners to take from in this claim, in turn, each with its share of `limit` in proportion
 * to its weight (at least one task), or [] when one owner (or none) has ready work.
 */
export async function ownersInTurn(db: Kysely<SwarmDatabase>, limit: number): Promise<OwnerShare[]> {
  const now = performance.now();
  let probe = probes.get(db);
  if (probe === undefined) probes.set(db, (probe = { owners: [], at: Number.NEGATIVE_INFINITY, turn: 0 }));
  if (now - probe.at >= PROBE_MS) {
    probe.at = now;
    const result = await sql<{ owner: string | null }>`
      WITH RECURSIVE o(owner, n) AS (
        SELECT (SELECT min(owner_id) FROM tasks WHERE status = 'PENDING' AND concurrency_key IS NULL), 1
        UNION ALL
        SELECT (SELECT min(owner_id) FROM tasks
                WHERE status = 'PENDING' AND concurrency_key IS NULL AND owner_id > o.owner), n + 1
        FROM o WHERE o.owner IS NOT NULL AND n < ${MAX_OWNERS}
      )
      SELECT owner FROM o WHERE owner IS NOT NULL`.execute(db);
    const ids = result.rows.map((row) => row.owner!);
    const weighted =
      ids.length < 2
        ? []
        : await db
            .selectFrom('users')
            .select(['id', 'claim_weight'])
            .where('id', 'in', ids)
            .where('claim_weight', 'is not', null)
            .execute();
    const weightOf = new Map(weighted.map((row) => [row.id, row.claim_weight!]));
    probe.owners = ids.map((ownerId) => ({ ownerId, weight: weightOf.get(ownerId) ?? 1 }));
  }
  const { owners } = probe;
  if (owners.length < 2) return [];
  probe.turn = (probe.turn + 1) % owners.length;
  const total = owners.reduce((sum, owner) => sum + owner.weight, 0);
  const order = [...owners.slice(probe.turn), ...owners.slice(0, probe.turn)];
  return order
    .slice(0, Math.max(1, limit))
    .map(({ ownerId, weight }) => ({ ownerId, share: Math.max(1, Math.floor((limit * weight) / total)) }));
}
