import { createHash } from 'node:crypto';

/**
 * An attempt's idempotency key: a hash of (run, step, item), so every attempt of one step's item
 * shares it; a task outside any run uses its own id. `runId` is the ORIGINAL run's id for a fork's
 * replay (see src/engine fork), so a replayed side effect carries the key the first one did.
 */
export function idempotencyKeyOf(
  runId: string | null,
  taskId: string,
  stepId: string | null,
  itemIndex: number | null,
): string {
  const basis = JSON.stringify(runId === null ? ['task', taskId] : ['run', runId, stepId, itemIndex]);
  return `swarm-${createHash('sha256').update(basis).digest('hex').slice(0, 40)}`;
}
