import { toDbTimestamp, type DatabaseHandle } from '../storage/index.js';
import { endAssignments } from './assignments.js';
import { chunksFor } from './batch.js';

/**
 * Graceful shutdown: a worker hands back tasks it claimed and will not run. They go back to
 * PENDING as they were — same attempt count (nothing was tried), same `run_at` (they keep
 * their place) — and the next claim bumps the epoch as usual. Only tasks this worker still
 * holds are released; returns their ids. Their worker assignments end as `released`.
 */
export async function releaseTasks(
  handle: DatabaseHandle,
  workerId: string,
  ids: readonly string[],
  now: Date = new Date(),
): Promise<string[]> {
  const { db, dialect } = handle;
  if (ids.length === 0) return [];
  const at = toDbTimestamp(now);
  return dialect.writeTransaction(db, async (trx) => {
    const released: string[] = [];
    for (const chunk of chunksFor(dialect, ids, 1)) {
      const rows = await trx
        .updateTable('tasks')
        .set({
          status: 'PENDING',
          locked_by: null,
          locked_until: null,
          started_at: null,
          heartbeat_at: null,
          updated_at: at,
        })
        .where('id', 'in', chunk)
        .where('status', '=', 'RUNNING')
        .where('locked_by', '=', workerId)
        .returning('id')
        .execute();
      released.push(...rows.map((row) => row.id));
    }
    await endAssignments(trx, dialect, released, 'released', at);
    return released;
  });
}
