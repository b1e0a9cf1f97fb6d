import type { Kysely } from 'kysely';
import { toDbJson, toDbTimestamp, type SwarmDatabase } from '../storage/index.js';

/**
 * Takes a periodic job for this interval, for one process among all those sharing the database:
 * the lease row's `due_at` moves forward by `intervalMs` in one conditional UPDATE, which only
 * one of several concurrent callers can match (PostgreSQL re-checks the WHERE on the row it
 * waited for; SQLite has one writer). Returns whether this caller got it.
 */
export async function claimLease(
  db: Kysely<SwarmDatabase>,
  job: string,
  holder: string,
  intervalMs: number,
  now = new Date(),
): Promise<boolean> {
  await db
    .insertInto('maintenance_leases')
    .values({ id: job, due_at: toDbTimestamp(new Date(0)) })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
  const result = await db
    .updateTable('maintenance_leases')
    .set({
      holder,
      claimed_at: toDbTimestamp(now),
      due_at: toDbTimestamp(new Date(now.getTime() + intervalMs)),
    })
    .where('id', '=', job)
    .where('due_at', '<=', toDbTimestamp(now))
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Notes what the job did (for `maintenance_leases.last_result`, read when diagnosing). */
export async function recordLeaseResult(
  db: Kysely<SwarmDatabase>,
  job: string,
  result: unknown,
): Promise<void> {
  await db
    .updateTable('maintenance_leases')
    .set({ last_result: toDbJson(result) })
    .where('id', '=', job)
    .execute();
}
