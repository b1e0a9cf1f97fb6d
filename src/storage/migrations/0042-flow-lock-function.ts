import { sql } from 'kysely';
import type { Migration } from './ddl.js';

/**
 * PostgreSQL: the keyed claim's lock of its keys, and what each allows now, in one round trip
 * (docs/flow-control.md). `swarm_lock_flow_keys(keys, at)` locks the keys' `flow_keys` rows
 * FOR UPDATE SKIP LOCKED (a key another claimer holds is left out), prunes their dead slots and
 * their starts older than their rate window, and returns each locked key's limits with its
 * running tasks (the RUNNING tasks whose first key it is, plus its live slots when `slotted`)
 * and its starts within the window.
 *
 * The counts must see every start the keys' previous holders committed, so they cannot be read
 * by the statement that takes the locks (its snapshot predates the locks). In a VOLATILE
 * function each statement takes a fresh snapshot: the counts run after the lock, as the two
 * statements they replace did, without the second round trip, and with plans the function
 * keeps instead of planning both statements at every claim. SQLite has one writer and no round
 * trips; it keeps the statements (src/queue/flow/claim.ts).
 *
 * SET search_path FROM CURRENT: the tables are the ones of the schema this migration ran in.
 */
export const flowLockFunction: Migration = {
  version: 42,
  name: 'flow-lock-function',
  async up(db, dialect) {
    if (dialect.name !== 'postgres') return;
    await sql`CREATE FUNCTION swarm_lock_flow_keys(wanted text[], at timestamptz)
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
    WHERE f.key = ANY(wanted) ORDER BY f.key FOR UPDATE SKIP LOCKED
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
