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
 * The function is redefined from its own text with that one clause changed, which must occur
 * exactly once. SQLite has one writer: its transactions are the locks.
 */
const CLAIM_LOCK = 'ORDER BY f.key FOR UPDATE SKIP LOCKED';
const SHARED_CLAIM_LOCK = 'ORDER BY f.key FOR NO KEY UPDATE SKIP LOCKED';

export const flowKeyPrune: Migration = {
  version: 48,
  name: 'flow-key-prune',
  async up(db, dialect) {
    if (dialect.name !== 'postgres') return;
    const { rows } = await sql<{ definition: string }>`SELECT pg_get_functiondef(
      'swarm_lock_flow_keys(text[], timestamptz)'::regprocedure) AS definition`.execute(db);
    const definition = rows[0]?.definition ?? '';
    if (definition.split(CLAIM_LOCK).length !== 2)
      throw new Error('migration 0048: swarm_lock_flow_keys is not the function migration 0042 defined');
    await sql.raw(definition.replace(CLAIM_LOCK, SHARED_CLAIM_LOCK)).execute(db);
  },
};
