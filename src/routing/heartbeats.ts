/**
 * Heartbeats of remote (http) agents. An agent says it is alive with
 * `POST /api/v1/agents/{name}/heartbeat`, which sets `last_seen_at`; the workers' sweep marks http
 * agents not heard from for `SWARM_AGENT_SILENT_AFTER` seconds (counted from registration when
 * they never sent one) `inactive`, which takes them out of routing, and the next heartbeat makes
 * them `active` again. Only silence sets `inactive`; deprecated or disabled agents stay so.
 */
import { insertEvents } from '../blobs/index.js';
import { SYSTEM_EVENT_SOURCE, toDbTimestamp, type Caller, type Store } from '../storage/index.js';
import { SwarmError } from '../errors/index.js';

export interface Heartbeat {
  /** The versions the heartbeat applied to. */
  readonly versions: string[];
  /** Those of them that were inactive and are active again. */
  readonly reactivated: string[];
}

/**
 * Records a heartbeat of the caller's http agent `name` (one version, or all of them): sets
 * `last_seen_at` to `now` and brings silent (`inactive`) versions back to `active`.
 */
export async function recordHeartbeat(
  store: Store,
  caller: Caller,
  name: string,
  options: { version?: string; now?: Date } = {},
): Promise<Heartbeat> {
  const now = toDbTimestamp(options.now ?? new Date());
  return store.handle.db.transaction().execute(async (trx) => {
    let query = trx
      .selectFrom('agents')
      .select(['id', 'version', 'status'])
      .where('owner_id', '=', caller.userId)
      .where('name', '=', name)
      .where('runtime_type', '=', 'http');
    if (options.version !== undefined) query = query.where('version', '=', options.version);
    const rows = await query.execute();
    if (rows.length === 0) {
      const which = options.version === undefined ? name : `${name}@${options.version}`;
      throw new SwarmError('NOT_FOUND', `no remote (http) agent ${which}`);
    }
    const ids = rows.map((row) => row.id);
    await trx
      .updateTable('agents')
      .set({ last_seen_at: now, updated_at: now })
      .where('id', 'in', ids)
      .execute();
    const silent = rows.filter((row) => row.status === 'inactive');
    if (silent.length > 0) {
      await trx
        .updateTable('agents')
        .set({ status: 'active' })
        .where(
          'id',
          'in',
          silent.map((row) => row.id),
        )
        .where('status', '=', 'inactive')
        .execute();
    }
    return { versions: rows.map((row) => row.version), reactivated: silent.map((row) => row.version) };
  });
}

/**
 * Marks `active` http agents not heard from for `silentAfterSeconds` before `now` as `inactive`
 * (an agent that never sent a heartbeat counts from its registration). Returns the agents marked.
 */
export async function markSilentAgents(
  store: Store,
  now: Date,
  silentAfterSeconds: number,
): Promise<Array<{ id: string; ownerId: string; name: string; version: string }>> {
  const cutoff = toDbTimestamp(new Date(now.getTime() - silentAfterSeconds * 1000));
  const db = store.handle.db;
  return db.transaction().execute(async (trx) => {
    const rows = await trx
      .selectFrom('agents')
      .select(['id', 'owner_id', 'name', 'version', 'last_seen_at', 'created_at'])
      .where('runtime_type', '=', 'http')
      .where('status', '=', 'active')
      .where((eb) =>
        eb.or([
          eb.and([eb('last_seen_at', 'is not', null), eb('last_seen_at', '<', cutoff)]),
          eb.and([eb('last_seen_at', 'is', null), eb('created_at', '<', cutoff)]),
        ]),
      )
      .execute();
    if (rows.length === 0) return [];
    await trx
      .updateTable('agents')
      .set({ status: 'inactive', updated_at: toDbTimestamp(now) })
      .where(
        'id',
        'in',
        rows.map((row) => row.id),
      )
      .where('status', '=', 'active')
      .execute();
    // Keyed by when it was last heard of: two sweepers racing publish one event, not two.
    await insertEvents(
      trx,
      store.handle.dialect,
      rows.map((row) => ({
        ownerId: row.owner_id,
        source: SYSTEM_EVENT_SOURCE,
        type: 'agent.inactive',
        idempotencyKey: `agent.inactive:${row.id}:${row.last_seen_at ?? row.created_at}`,
        payload: {
          agent: row.name,
          version: row.version,
          last_seen_at: row.last_seen_at,
          silent_after_seconds: silentAfterSeconds,
        },
      })),
    );
    return rows.map((row) => ({ id: row.id, ownerId: row.owner_id, name: row.name, version: row.version }));
  });
}
