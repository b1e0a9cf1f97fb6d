import { sql } from 'kysely';
import type { Migration } from './ddl.js';

/**
 * PostgreSQL: a round of the keyed claim in one round trip (docs/flow-control.md).
 * `swarm_flow_round(wanted, budget, at, owner_only, agent_only, capabilities_only)` locks and
 * counts the keys as swarm_lock_flow_keys (0042) does, then takes, key by key in the order of
 * `wanted`, the oldest parked tasks of each key with room, up to its room and to what is left
 * of `budget`, locked FOR UPDATE SKIP LOCKED. It returns one row per locked key (its state, the
 * task columns NULL), then one per task taken (its key and the few columns the claim decides
 * on: the start's RETURNING gives the rest).
 *
 * The heads were a statement of their own, planned at every claim; here they are a plan the
 * function keeps, read under a snapshot taken after the locks, as before. The claimer's filter
 * (a pull agent's owner, agent name or capabilities: NULL for none) is the one of
 * src/queue/claimer-filter.ts, which the unkeyed claim and SQLite's keyed claim apply; the flow
 * tests run pull claims on both dialects so the two cannot drift apart unseen.
 */
export const flowRoundFunction: Migration = {
  version: 43,
  name: 'flow-round-function',
  async up(db, dialect) {
    if (dialect.name !== 'postgres') return;
    await sql`CREATE FUNCTION swarm_flow_round(wanted text[], budget integer, at timestamptz,
  owner_only text, agent_only text, capabilities_only text[])
RETURNS TABLE (key text, max_running integer, rate_limit integer, period_ms bigint,
  wake_at timestamptz, slotted boolean, running bigint, starts bigint, oldest_start timestamptz,
  id text, priority integer, run_at timestamptz, flow_keys text, concurrency_key text,
  parked_key text)
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
  s record;
  room bigint;
  taken bigint;
  left_over bigint := budget;
BEGIN
  FOR s IN
    SELECT l.*, w.i FROM swarm_lock_flow_keys(wanted, at) l
    JOIN unnest(wanted) WITH ORDINALITY w(k, i) ON w.k = l.key ORDER BY w.i
  LOOP
    RETURN QUERY SELECT s.key, s.max_running, s.rate_limit, s.period_ms, s.wake_at, s.slotted,
      s.running, s.starts, s.oldest_start, NULL::text, NULL::integer, NULL::timestamptz,
      NULL::text, NULL::text, NULL::text;
    CONTINUE WHEN left_over <= 0 OR (s.wake_at IS NOT NULL AND s.wake_at > at);
    room := left_over;
    IF s.max_running IS NOT NULL THEN room := least(room, s.max_running - s.running); END IF;
    IF s.rate_limit IS NOT NULL THEN room := least(room, s.rate_limit - s.starts); END IF;
    CONTINUE WHEN room <= 0;
    RETURN QUERY SELECT s.key, NULL::integer, NULL::integer, NULL::bigint, NULL::timestamptz,
      NULL::boolean, NULL::bigint, NULL::bigint, NULL::timestamptz,
      t.id, t.priority, t.run_at, t.flow_keys, t.concurrency_key, t.parked_key
    FROM tasks t
    WHERE t.status = 'PENDING' AND t.parked_key = s.key AND t.run_at <= at
      AND (owner_only IS NULL OR t.owner_id = owner_only)
      AND (capabilities_only IS NULL
        OR t.agent_name = agent_only
        OR (t.agent_name IS NULL AND t.capability_required = ANY(capabilities_only)))
    ORDER BY t.priority DESC, t.run_at, t.id
    LIMIT room
    FOR UPDATE SKIP LOCKED;
    GET DIAGNOSTICS taken = ROW_COUNT;
    left_over := left_over - taken;
  END LOOP;
END $$`.execute(db);
  },
};
