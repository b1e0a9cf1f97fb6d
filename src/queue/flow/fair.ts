import { sql, type Kysely } from 'kysely';
import type { SwarmDatabase } from '../../storage/index.js';

/**
 * Fairness between owners (docs/flow-control.md): when several owners have ready unkeyed work,
 * a claim takes from each in turn instead of strictly by priority across all of them, so one
 * owner's backlog of 100,000 never delays another's single task by more than a claim.
 *
 * Which owners have ready work is looked up at most every PROBE_MS per database (a loose index
 * scan over idx_tasks_ready_owner, one probe per owner): one owner alone (the common case) costs
 * the claim nothing more than that, and an owner whose work just arrived gets its turn within
 * PROBE_MS (meanwhile the claim is the plain one, by priority).
 */
const PROBE_MS = 1000;
/** Owners looked up per probe: a claim takes from at most `limit` of them anyway. */
const MAX_OWNERS = 64;

interface Probe {
  owners: string[];
  at: number;
  turn: number;
}
const probes = new WeakMap<object, Probe>();

/** The owners to take from in this claim, in turn, or [] when one owner (or none) has ready work. */
export async function ownersInTurn(db: Kysely<SwarmDatabase>, limit: number): Promise<string[]> {
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
    probe.owners = result.rows.map((row) => row.owner!);
  }
  const { owners } = probe;
  if (owners.length < 2) return [];
  probe.turn = (probe.turn + 1) % owners.length;
  const order = [...owners.slice(probe.turn), ...owners.slice(0, probe.turn)];
  return order.slice(0, Math.max(1, limit));
}
