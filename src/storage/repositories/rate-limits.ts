import { sql, type Kysely } from 'kysely';
import type { RateLimitTrackerTable, SwarmDatabase } from '../schema-types.js';
import { newId } from '../values.js';

export type RateLimitWindowType = RateLimitTrackerTable['window_type'];

/** A key's limits, as authentication's key row has them. */
export interface RateLimits {
  readonly perMinute: number;
  readonly perHour: number;
}

/** One window's ask: `want` more requests of the key's `limit` in the window starting then. */
export interface RateLimitAsk {
  readonly windowType: RateLimitWindowType;
  /** ISO-8601, the window's start (fixed windows aligned to the clock). */
  readonly windowStart: string;
  readonly limit: number;
  /** At least 1 and at most `limit`. */
  readonly want: number;
}

/** What one window's ask got: all of `want` (then `count` is the window's new total) or nothing. */
export interface RateLimitGrant {
  readonly windowType: RateLimitWindowType;
  readonly granted: boolean;
  /** The window's total after the grant; null when refused (the total is then unknown). */
  readonly count: number | null;
}

/**
 * Reserves requests for one key in one statement, one row per window: a window's count grows by
 * `want` only while it stays within the limit (all or nothing), atomically on both dialects — the
 * conflicting row is locked (PostgreSQL) or the database is (SQLite) while the condition is
 * checked — so processes sharing the database never get more than the limit between them. A row
 * whose condition fails is not updated and not returned: refused. Callers list the minute before
 * the hour, so two processes lock a key's rows in the same order (no deadlock).
 */
export async function reserveRateLimit(
  db: Kysely<SwarmDatabase>,
  keyId: string,
  asks: readonly RateLimitAsk[],
): Promise<RateLimitGrant[]> {
  if (asks.length === 0) return [];
  const limitOf = (type: RateLimitWindowType) => asks.find((a) => a.windowType === type)?.limit ?? 0;
  // The limit of the row being updated, by its window type (both may be in one statement).
  // Cast: PostgreSQL would otherwise type the bare parameters of a CASE as text.
  const limit = sql<number>`case excluded.window_type when 'minute' then cast(${limitOf('minute')} as integer) else cast(${limitOf('hour')} as integer) end`;
  const rows = await db
    .insertInto('rate_limit_tracker')
    .values(
      asks.map((a) => ({
        id: newId(),
        key_id: keyId,
        window_start: a.windowStart,
        window_type: a.windowType,
        request_count: a.want,
      })),
    )
    .onConflict((oc) =>
      oc
        .columns(['key_id', 'window_start', 'window_type'])
        .doUpdateSet({
          request_count: sql`rate_limit_tracker.request_count + excluded.request_count`,
        })
        .where(sql<boolean>`rate_limit_tracker.request_count + excluded.request_count <= ${limit}`),
    )
    .returning(['window_type', 'request_count'])
    .execute();
  return asks.map((a) => {
    const row = rows.find((r) => r.window_type === a.windowType);
    return {
      windowType: a.windowType,
      granted: row !== undefined,
      count: row ? Number(row.request_count) : null,
    };
  });
}

/** Gives back requests reserved but not used (a closing process), never below zero. */
export async function releaseRateLimit(
  db: Kysely<SwarmDatabase>,
  keyId: string,
  release: { readonly windowType: RateLimitWindowType; readonly windowStart: string; readonly count: number },
): Promise<void> {
  await db
    .updateTable('rate_limit_tracker')
    .set({
      request_count: sql`case when request_count > ${release.count} then request_count - cast(${release.count} as integer) else 0 end`,
    })
    .where('key_id', '=', keyId)
    .where('window_start', '=', release.windowStart)
    .where('window_type', '=', release.windowType)
    .execute();
}

/** A key's limits; null when there is no such key. */
export async function findRateLimits(db: Kysely<SwarmDatabase>, keyId: string): Promise<RateLimits | null> {
  const row = await db
    .selectFrom('api_keys')
    .select(['rate_limit_per_minute', 'rate_limit_per_hour'])
    .where('id', '=', keyId)
    .executeTakeFirst();
  return row === undefined
    ? null
    : { perMinute: Number(row.rate_limit_per_minute), perHour: Number(row.rate_limit_per_hour) };
}

/** Drops windows that started before `before`; returns how many rows went. */
export async function pruneRateLimits(db: Kysely<SwarmDatabase>, before: string): Promise<number> {
  const result = await db
    .deleteFrom('rate_limit_tracker')
    .where('window_start', '<', before)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
