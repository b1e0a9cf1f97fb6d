import type { Kysely } from 'kysely';
import type { SwarmDatabase } from '../../storage/index.js';
import { ownerQuota, type FlowLimit } from './keys.js';

/**
 * Whether a claim looks for keyed tasks at all. A database without keyed work must cost the
 * claim nothing (no statement, no round trip), so once a look finds none, claims skip the look
 * for PROBE_MS; enqueueing keyed work in this process ends the pause at once. Keyed tasks
 * another process enqueues wait at most PROBE_MS more before their first claim.
 */
export const PROBE_MS = 1000;
let lastEmptyAt = Number.NEGATIVE_INFINITY;
let keyedEnqueuedAt = 0;

export function noteKeyedWork(): void {
  keyedEnqueuedAt = performance.now();
}

export function shouldLookForKeyedWork(): boolean {
  const now = performance.now();
  return keyedEnqueuedAt >= lastEmptyAt || now - lastEmptyAt >= PROBE_MS;
}

export function noteNoKeyedWork(): void {
  lastEmptyAt = performance.now();
}

/**
 * Adds each owner's quota (users.max_running_tasks, set by an admin) to every task of that
 * owner: one indexed read per enqueue, of the owners in the batch.
 */
export async function withOwnerQuotas<
  T extends { readonly ownerId: string; readonly flow?: readonly FlowLimit[] },
>(db: Kysely<SwarmDatabase>, tasks: readonly T[]): Promise<readonly T[]> {
  const owners = [...new Set(tasks.map((task) => task.ownerId).filter((id) => typeof id === 'string'))];
  if (owners.length === 0) return tasks;
  const quotas = await db
    .selectFrom('users')
    .select(['id', 'max_running_tasks'])
    .where('id', 'in', owners)
    .where('max_running_tasks', 'is not', null)
    .execute();
  if (quotas.length === 0) return tasks;
  const quotaOf = new Map(quotas.map((row) => [row.id, ownerQuota(row.id, row.max_running_tasks!)]));
  return tasks.map((task) => {
    const quota = quotaOf.get(task.ownerId);
    return quota === undefined ? task : { ...task, flow: [...(task.flow ?? []), quota] };
  });
}
