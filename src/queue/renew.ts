import { toDbTimestamp, type DatabaseHandle } from '../storage/index.js';
import { chunksFor, heldUnder, inBatch, leaseRows, uniqueById } from './batch.js';
import type { Lease } from './types.js';

export interface RenewResult {
  /** Leases extended to now + leaseMs. */
  readonly renewed: string[];
  /**
   * Leases the worker no longer holds: reclaimed after expiry, cancelled, or claimed again by
   * another worker. The worker must stop those attempts — their results would be rejected.
   */
  readonly lost: string[];
}

/**
 * The heartbeat: extends every lease the worker still holds under the epoch it names, in one
 * statement per batch —
 *
 *   WITH leases(id, lease_epoch, status, locked_by) AS MATERIALIZED
 *     (SELECT v.column1, v.column2, 'RUNNING', :worker FROM (VALUES (…), …) AS v)
 *   UPDATE tasks SET locked_until = :until, heartbeat_at = :now FROM leases
 *   WHERE tasks.id = leases.id AND tasks.id IN (…the batch's ids: see inBatch)
 *     AND tasks.lease_epoch = leases.lease_epoch AND tasks.status = leases.status  -- heldUnder
 *     AND tasks.locked_by = leases.locked_by
 *   RETURNING id
 *
 * — the task row only: a running attempt has no assignment row (it is written when the attempt
 * ends, from the task's last heartbeat_at). Cancellation bumps the epoch, so this is
 * also how a running attempt learns it was cancelled.
 */
export async function renewLeases(
  handle: DatabaseHandle,
  workerId: string,
  leases: readonly Lease[],
  leaseMs: number,
  now: Date = new Date(),
): Promise<RenewResult> {
  const { db, dialect } = handle;
  const { unique } = uniqueById(leases);
  if (unique.length === 0) return { renewed: [], lost: [] };
  const at = toDbTimestamp(now);
  const until = toDbTimestamp(new Date(now.getTime() + leaseMs));
  const renewed = new Set<string>();
  // Two parameters a lease: its id and its epoch.
  for (const chunk of chunksFor(dialect, unique, 2)) {
    const rows = await db
      .with(
        (cte) => cte('leases(id, lease_epoch, status, locked_by)').materialized(),
        () => leaseRows(dialect, workerId, chunk),
      )
      .updateTable('tasks')
      .from('leases')
      .set({ locked_until: until, heartbeat_at: at })
      .whereRef('tasks.id', '=', 'leases.id')
      .where(
        inBatch(
          dialect,
          chunk.map((lease) => lease.id),
          'leases',
        ),
      )
      .where(heldUnder('leases'))
      // The worker is the batch's column too: `locked_by = :worker` as a filter, estimated from
      // statistics taken while no task ran, was as badly guessed as the epoch (see heldUnder).
      .whereRef('tasks.locked_by', '=', 'leases.locked_by')
      .returning('tasks.id')
      .execute();
    for (const row of rows) renewed.add(row.id);
  }
  const ids = [...renewed];
  return { renewed: ids, lost: unique.filter((lease) => !renewed.has(lease.id)).map((lease) => lease.id) };
}
