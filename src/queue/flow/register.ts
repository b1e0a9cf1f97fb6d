import type { Kysely } from 'kysely';
import {
  fromDbBool,
  newId,
  nowTimestamp,
  toDbBool,
  type DialectAdapter,
  type SwarmDatabase,
} from '../../storage/index.js';
import { chunksFor } from '../batch.js';
import { SwarmError, type FieldIssue } from '../../errors/index.js';
import { FLOW_SCOPES, type FlowLimit } from './keys.js';

/** The problems of a task's flow limits, each naming its field (`tasks[0].flow[1].maxRunning`). */
export function flowIssues(flow: readonly FlowLimit[] | undefined, at: string): FieldIssue[] {
  if (flow === undefined) return [];
  const issues: FieldIssue[] = [];
  if (!Array.isArray(flow)) return [{ field: `${at}.flow`, message: 'a list of limits' }];
  flow.forEach((limit, i) => {
    const field = `${at}.flow[${i}]`;
    if (typeof limit.key !== 'string' || limit.key === '')
      issues.push({ field: `${field}.key`, message: 'required' });
    if (!FLOW_SCOPES.includes(limit.scope))
      issues.push({ field: `${field}.scope`, message: `one of ${FLOW_SCOPES.join(', ')}` });
    if (limit.maxRunning === undefined && limit.rate === undefined)
      issues.push({ field: field, message: 'a concurrency or a rate limit' });
    if (limit.maxRunning !== undefined && !(Number.isInteger(limit.maxRunning) && limit.maxRunning > 0))
      issues.push({ field: `${field}.maxRunning`, message: 'a positive integer' });
    if (limit.rate !== undefined) {
      if (!(Number.isInteger(limit.rate.limit) && limit.rate.limit > 0))
        issues.push({ field: `${field}.rate.limit`, message: 'a positive integer' });
      if (!(Number.isInteger(limit.rate.periodMs) && limit.rate.periodMs > 0))
        issues.push({ field: `${field}.rate.periodMs`, message: 'a positive integer' });
    }
  });
  return issues;
}

/**
 * Makes sure every key of `tasks` has its `flow_keys` row with the limits given (the last
 * definition enqueued wins), in the enqueue's transaction. Only missing or changed rows are
 * written: enqueueing into a busy key must not queue behind the claimers holding it.
 *
 * PostgreSQL: the rows are held FOR KEY SHARE until the tasks are committed, so a prune of idle
 * keys (prune.ts) cannot delete one in between; claimers lock FOR NO KEY UPDATE (migration
 * 0048), which does not conflict. A row another enqueue inserted at the same time is locked
 * once its insert has won. SQLite has one writer: the transaction is the lock.
 */
export async function registerFlowKeys(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  tasks: readonly { readonly ownerId: string; readonly flow?: readonly FlowLimit[] }[],
): Promise<void> {
  const wanted = new Map<
    string,
    {
      owner_id: string;
      scope: string;
      max_running: number | null;
      rate_limit: number | null;
      period_ms: number | null;
    }
  >();
  // Keys some task holds as other than its first: their running tasks are counted by slots
  // too (runningCounts, src/queue/flow/slots.ts), whatever their limits are now.
  const slotted = new Set<string>();
  for (const task of tasks)
    for (const limit of task.flow ?? []) {
      if (limit.key !== task.flow![0]!.key) slotted.add(limit.key);
      wanted.set(limit.key, {
        owner_id: task.ownerId,
        scope: limit.scope,
        max_running: limit.maxRunning ?? null,
        rate_limit: limit.rate?.limit ?? null,
        period_ms: limit.rate?.periodMs ?? null,
      });
    }
  if (wanted.size === 0) return;
  const keys = [...wanted.keys()].sort();
  const existing = await readKeys(db, dialect, keys);
  const now = nowTimestamp();
  let missing = keys.filter((key) => !existing.has(key));
  // Each turn needs another enqueue's insert to win a key, or a prune to delete it, in between:
  // a few turns are plenty.
  for (let turn = 0; missing.length > 0; turn++) {
    if (turn === MAX_REGISTRATION_TURNS)
      throw new SwarmError('CONFLICT', `flow keys changed while being registered: ${missing.join(', ')}`);
    const inserted = new Set<string>();
    for (const chunk of chunksFor(dialect, missing, 9)) {
      const rows = await db
        .insertInto('flow_keys')
        .values(
          chunk.map((key) => ({
            id: newId(),
            key,
            ...wanted.get(key)!,
            slotted: toDbBool(slotted.has(key)),
            created_at: now,
            updated_at: now,
          })),
        )
        .onConflict((oc) => oc.column('key').doNothing())
        .returning('key')
        .execute();
      for (const row of rows) inserted.add(row.key);
    }
    const lost = missing.filter((key) => !inserted.has(key));
    for (const [key, row] of await readKeys(db, dialect, lost)) existing.set(key, row);
    missing = lost.filter((key) => !existing.has(key));
  }
  // Set after the insert, whoever inserted the row: a concurrent enqueue's row (its insert won)
  // must not leave the key unslotted. Never cleared.
  const toSlot = [...slotted].filter((key) => existing.get(key)?.slotted !== true).sort();
  for (const chunk of chunksFor(dialect, toSlot, 1))
    await db
      .updateTable('flow_keys')
      .set({ slotted: 1 })
      .where('key', 'in', chunk)
      .where('slotted', '=', toDbBool(false))
      .execute();
  for (const key of keys) {
    const had = existing.get(key);
    const want = wanted.get(key)!;
    if (
      had === undefined ||
      (had.max_running === want.max_running &&
        had.rate_limit === want.rate_limit &&
        had.period_ms === want.period_ms)
    )
      continue;
    await db
      .updateTable('flow_keys')
      .set({
        max_running: want.max_running,
        rate_limit: want.rate_limit,
        period_ms: want.period_ms,
        updated_at: now,
      })
      .where('key', '=', key)
      .execute();
  }
}

const MAX_REGISTRATION_TURNS = 5;

interface RegisteredKey {
  readonly max_running: number | null;
  readonly rate_limit: number | null;
  readonly period_ms: number | null;
  readonly slotted: boolean;
}

/** The rows of `keys` there are, held FOR KEY SHARE on PostgreSQL (see registerFlowKeys). */
async function readKeys(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  keys: readonly string[],
): Promise<Map<string, RegisteredKey>> {
  const found = new Map<string, RegisteredKey>();
  for (const chunk of chunksFor(dialect, keys, 1)) {
    const query = db
      .selectFrom('flow_keys')
      .select(['key', 'max_running', 'rate_limit', 'period_ms', 'slotted'])
      .where('key', 'in', chunk)
      .orderBy('key');
    for (const row of await (dialect.capabilities.skipLocked ? query.forKeyShare() : query).execute())
      found.set(row.key, {
        max_running: row.max_running,
        rate_limit: row.rate_limit,
        period_ms: row.period_ms === null ? null : Number(row.period_ms),
        slotted: fromDbBool(row.slotted),
      });
  }
  return found;
}
