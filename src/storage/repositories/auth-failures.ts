import type { Kysely } from 'kysely';
import type { Caller } from '../caller.js';
import type { DialectAdapter } from '../dialect/dialect.js';
import type { AuthFailuresTable, SwarmDatabase } from '../schema-types.js';
import { newId, toDbText } from '../values.js';

/** One counted bucket of failed authentications (migration 0012 says what the columns mean). */
export interface AuthFailureCount {
  readonly kind: AuthFailuresTable['kind'];
  readonly windowStart: string;
  /** '' when unknown; '*' for the overflow bucket of a window with too many addresses. */
  readonly ipAddress: string;
  /** The first characters of the API key sent; '' when none was. */
  readonly keyPrefix: string;
  /** The webhook trigger's id; '' for API keys. */
  readonly resourceId: string;
  readonly reason: string;
  readonly attempts: number;
  readonly firstAt: string;
  readonly lastAt: string;
  readonly userAgent: string | null;
  /** Who sees the row besides admins: a webhook trigger's owner, a known key's owner. */
  readonly ownerId: string | null;
}

// 12 columns a row: well under either dialect's parameter limit.
const ROWS_PER_STATEMENT = 200;

/** Adds counts to their buckets: a new bucket is inserted, an existing one's `attempts` grows. */
export async function addAuthFailures(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  counts: readonly AuthFailureCount[],
): Promise<void> {
  if (counts.length === 0) return;
  await dialect.writeTransaction(db, async (trx) => {
    for (let i = 0; i < counts.length; i += ROWS_PER_STATEMENT) {
      await trx
        .insertInto('auth_failures')
        .values(
          counts.slice(i, i + ROWS_PER_STATEMENT).map((c) => ({
            id: newId(),
            owner_id: c.ownerId,
            kind: c.kind,
            window_start: c.windowStart,
            ip_address: toDbText(c.ipAddress),
            key_prefix: toDbText(c.keyPrefix),
            resource_id: c.resourceId,
            reason: toDbText(c.reason),
            attempts: c.attempts,
            first_at: c.firstAt,
            last_at: c.lastAt,
            user_agent: c.userAgent === null ? null : toDbText(c.userAgent.slice(0, 512)),
          })),
        )
        .onConflict((oc) =>
          oc
            .columns(['kind', 'window_start', 'ip_address', 'key_prefix', 'resource_id', 'reason'])
            .doUpdateSet((eb) => ({
              attempts: eb('auth_failures.attempts', '+', eb.ref('excluded.attempts')),
              last_at: eb.ref('excluded.last_at'),
              user_agent: eb.ref('excluded.user_agent'),
            })),
        )
        .execute();
    }
  });
}

export interface AuthFailureFilters {
  readonly kind?: AuthFailuresTable['kind'];
  /** Windows starting at or after this instant. */
  readonly since?: string;
  /** @default 100 */
  readonly limit?: number;
}

/** Newest windows first. Admins see every row; members the rows about their own triggers and keys. */
export async function listAuthFailures(
  db: Kysely<SwarmDatabase>,
  caller: Caller,
  filters: AuthFailureFilters = {},
): Promise<AuthFailureCount[]> {
  let query = db.selectFrom('auth_failures').selectAll();
  if (caller.role !== 'admin') query = query.where('owner_id', '=', caller.userId);
  if (filters.kind !== undefined) query = query.where('kind', '=', filters.kind);
  if (filters.since !== undefined) query = query.where('window_start', '>=', filters.since);
  const rows = await query
    .orderBy('window_start', 'desc')
    .orderBy('attempts', 'desc')
    .orderBy('id')
    .limit(filters.limit ?? 100)
    .execute();
  return rows.map((r) => ({
    kind: r.kind,
    windowStart: r.window_start,
    ipAddress: r.ip_address,
    keyPrefix: r.key_prefix,
    resourceId: r.resource_id,
    reason: r.reason,
    attempts: Number(r.attempts),
    firstAt: r.first_at,
    lastAt: r.last_at,
    userAgent: r.user_agent,
    ownerId: r.owner_id,
  }));
}

/** Drops windows that started before `before`; returns how many rows went. */
export async function pruneAuthFailures(db: Kysely<SwarmDatabase>, before: string): Promise<number> {
  const result = await db.deleteFrom('auth_failures').where('window_start', '<', before).executeTakeFirst();
  return Number(result.numDeletedRows);
}
