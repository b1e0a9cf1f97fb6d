import { sql, type Kysely } from 'kysely';
import type { SwarmDatabase } from '../../storage/index.js';

/**
 * The distinct keys parked tasks wait under, after `after` in key order: a loose index scan of
 * `idx_tasks_flow_parked`, one probe per key, at most `most`. Given an owner, only its tasks'
 * keys: each probe then walks past other owners' parked tasks, so all probes together read the
 * parked tasks after `after` once at most.
 */
export async function scanParkedKeys(
  db: Kysely<SwarmDatabase>,
  after: string,
  most: number,
  ownerId: string | null = null,
): Promise<string[]> {
  // `owner_id || ''`: not `owner_id`, which SQLite's planner would look up by an owner index
  // (every task of the owner, per probe) instead of walking the parked index.
  const ownTasks = ownerId === null ? sql`` : sql`AND owner_id || '' = ${ownerId}`;
  const result = await sql<{ key: string | null }>`
    WITH RECURSIVE parked(key, n) AS (
      SELECT (SELECT min(parked_key) FROM tasks
              WHERE status = 'PENDING' AND parked_key IS NOT NULL AND parked_key > ${after} ${ownTasks}), 1
      UNION ALL
      SELECT (SELECT min(parked_key) FROM tasks
              WHERE status = 'PENDING' AND parked_key IS NOT NULL AND parked_key > parked.key ${ownTasks}),
        n + 1
      FROM parked WHERE parked.key IS NOT NULL AND n < ${most}
    )
    SELECT key FROM parked WHERE key IS NOT NULL`.execute(db);
  return result.rows.map((row) => row.key!);
}
