/**
 * A resumed attempt reads its waitpoint back (RuntimeContext.waitpoint). The task was claimed
 * either because the waitpoint was settled (a decision, an event) or because its timeout came;
 * in the second case this settles it as `timed_out`, by the same conditional update a decision
 * uses, so a decision arriving at that very moment either wins (and is returned) or is refused.
 */
import { resolveWaitpoint, waitpointOf, type Waitpoint } from '../queue/index.js';
import type { WaitpointOutcome } from '../runtimes/index.js';
import type { DatabaseHandle } from '../storage/index.js';

export async function readWaitpoint(
  handle: DatabaseHandle,
  task: { readonly id: string; readonly ownerId: string },
  key: string,
  now: Date = new Date(),
): Promise<WaitpointOutcome | null> {
  const found = await waitpointOf(handle, task.id, key);
  if (found === null || found.ownerId !== task.ownerId) return null;
  if (found.status !== 'waiting' || found.timeoutAt === null || Date.parse(found.timeoutAt) > now.getTime())
    return outcomeOf(found);
  const timedOut = await resolveWaitpoint(
    handle,
    {
      id: found.id,
      ownerId: task.ownerId,
      status: 'timed_out',
      result: { on_timeout: found.onTimeout },
      resolvedBy: 'timeout',
    },
    now,
  );
  if (timedOut !== null) return outcomeOf(timedOut);
  const settled = await waitpointOf(handle, task.id, key);
  return settled === null ? null : outcomeOf(settled);
}

function outcomeOf(waitpoint: Waitpoint): WaitpointOutcome {
  return {
    id: waitpoint.id,
    status: waitpoint.status,
    timeoutAt: waitpoint.timeoutAt,
    onTimeout: waitpoint.onTimeout,
    result: waitpoint.result,
    resolvedBy: waitpoint.resolvedBy,
    resolvedAt: waitpoint.resolvedAt,
  };
}
