import { isTransientDatabaseError, toDbTimestamp, type DatabaseHandle } from '../storage/index.js';
import { endAttempts } from './assignments.js';
import { chunksFor, stillRunning } from './batch.js';
import { bisectFailures, messageOf } from './split.js';
import { PARKED_UNDER_FIRST_KEY } from './rows.js';
import { announceQueuedWork, kindsOf } from './announce.js';

/**
 * Graceful shutdown: a worker hands back tasks it claimed and will not run. They go back to
 * PENDING as they were — same attempt count (nothing was tried), same `run_at` (they keep
 * their place) — and the next claim bumps the epoch as usual. Only tasks this worker still
 * holds are released; returns their ids. Their worker assignments end as `released`.
 *
 * Workers everywhere are told of them (announceQueuedWork). A batch that fails is released in
 * halves, down to single tasks (bisectFailures), so every task that can be released is; if
 * some could not be even alone, one error names them after the others committed (those wait
 * for their lease to expire and are reclaimed).
 */
export async function releaseTasks(
  handle: DatabaseHandle,
  workerId: string,
  ids: readonly string[],
  now: Date = new Date(),
): Promise<string[]> {
  if (ids.length === 0) return [];
  const { results, failed } = await bisectFailures(
    ids,
    (batch) => releaseBatch(handle, workerId, batch, now),
    { rethrow: isTransientDatabaseError },
  );
  const released: string[] = [];
  for (const batch of results) for (const id of batch) released.push(id);
  if (failed.length > 0) {
    const first = failed[0]!;
    throw new Error(
      `releasing ${failed.length} of ${ids.length} tasks failed (the others were released); ` +
        `task ${first.item}: ${messageOf(first.error)}`,
      { cause: first.error },
    );
  }
  return released;
}

async function releaseBatch(
  handle: DatabaseHandle,
  workerId: string,
  ids: readonly string[],
  now: Date,
): Promise<string[]> {
  const { db, dialect } = handle;
  const at = toDbTimestamp(now);
  return dialect.writeTransaction(db, async (trx) => {
    const released: { id: string; concurrency_key: string | null }[] = [];
    for (const chunk of chunksFor(dialect, ids, 1)) {
      await endAttempts(trx, dialect, 'released', at, (qb) =>
        qb.where('tasks.id', 'in', chunk).where('tasks.locked_by', '=', workerId),
      );
      const rows = await trx
        .updateTable('tasks')
        .set({
          status: 'PENDING',
          ...PARKED_UNDER_FIRST_KEY,
          locked_by: null,
          locked_until: null,
          started_at: null,
          heartbeat_at: null,
          updated_at: at,
        })
        .where('id', 'in', chunk)
        .where(stillRunning())
        .where('locked_by', '=', workerId)
        .returning(['id', 'concurrency_key'])
        .execute();
      for (const row of rows) released.push(row);
    }
    // For another worker, which hears of them once this commits.
    await announceQueuedWork(trx, dialect, kindsOf(released));
    return released.map((row) => row.id);
  });
}
