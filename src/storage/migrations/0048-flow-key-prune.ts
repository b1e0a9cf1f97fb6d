import { sql } from 'kysely';
import type { Migration } from './ddl.js';

/**
 * Idle flow keys can be deleted (src/queue/flow/prune.ts, docs/flow-control.md). A key's row
 * must outlive every unfinished task under it, and an enqueue reads its keys' rows without
 * writing them, so a prune needs a lock that registration takes too without queueing behind
 * the claimers holding a busy key:
 *
 * - registration (src/queue/flow/register.ts) holds its keys FOR KEY SHARE until its tasks are
 *   committed;
 * - the claim's lock (swarm_lock_flow_keys, migration 0042) becomes FOR NO KEY UPDATE, which
 *   serialises claimers exactly as FOR UPDATE did but does not conflict with FOR KEY SHARE (a
 *   claim updates `wake_at` only, never `key`);
 * - a prune locks FOR UPDATE SKIP LOCKED, which conflicts with both: it skips a key being
 *   claimed or registered, and an enqueue that comes after it waits, then finds the key gone and
 *   inserts it again.
 *
 * The function is 0042's, that one clause changed. SQLite has one writer: its transactions are
 * the locks.
 */
export const flowKeyPrune: Migration = {
  version: 48,
  name: 'flow-key-prune',
  async up(db, dialect) {
    if (dialect.name !== 'postgres') return;
    await sql`CREATE OR REPLACE FUNCTION swarm_lock_flow_keys(wanted text[], at timestamptz)
RETURNS TABLE (key text, max_running integer, rate_limit integer, period_ms bigint,
  wake_at timestamptz, slotted boolean, running bigint, starts bigint, oldest_start timestamptz)
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
  locked text[];
  any_slotted boolean;
  any_rate boolean;
BEGIN
  SELECT coalesce(array_agg(l.key), '{}'), bool_or(l.slotted AND l.max_running IS NOT NULL),
    bool_or(l.rate_limit IS NOT NULL)
  INTO locked, any_slotted, any_rate
  FROM (
    SELECT f.key, f.slotted, f.max_running, f.rate_limit FROM flow_keys f
    WHERE f.key = ANY(wanted) ORDER BY f.key FOR NO KEY UPDATE SKIP LOCKED
  ) l;
  IF cardinality(locked) = 0 THEN
    RETURN;
  END IF;
  -- From here on each statement's snapshot is taken after the locks.
  IF any_slotted THEN
    DELETE FROM flow_slots s USING flow_keys f
    WHERE f.key = ANY(locked) AND f.slotted AND f.max_running IS NOT NULL AND s.key = f.key
      AND (SELECT t.status = 'RUNNING' AND t.lease_epoch = s.lease_epoch
           FROM tasks t WHERE t.id = s.task_id) IS NOT TRUE;
  END IF;
  IF any_rate THEN
    DELETE FROM flow_starts s USING flow_keys f
    WHERE f.key = ANY(locked) AND f.rate_limit IS NOT NULL AND s.key = f.key
      AND s.started_at <= at - f.period_ms * interval '1 millisecond';
  END IF;
  RETURN QUERY
  SELECT f.key, f.max_running, f.rate_limit, f.period_ms, f.wake_at, f.slotted,
    CASE WHEN f.max_running IS NULL THEN 0::bigint ELSE
      (SELECT count(*) FROM tasks t WHERE t.status = 'RUNNING' AND t.concurrency_key = f.key)
      + CASE WHEN f.slotted THEN (SELECT count(*) FROM flow_slots s WHERE s.key = f.key) ELSE 0 END
    END,
    CASE WHEN f.rate_limit IS NULL THEN 0::bigint ELSE
      (SELECT count(*) FROM flow_starts s WHERE s.key = f.key)
    END,
    CASE WHEN f.rate_limit IS NULL THEN NULL ELSE
      (SELECT min(s.started_at) FROM flow_starts s WHERE s.key = f.key)
    END
  FROM flow_keys f WHERE f.key = ANY(locked) ORDER BY f.key;
END $$`.execute(db);
  },
};
