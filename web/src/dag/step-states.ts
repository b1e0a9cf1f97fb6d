import type { StepStateLike } from './layout.js';

/**
 * The graph's state per step from a run's steps and its attempts: the status as the run has it,
 * and for a for_each step its counts; `failed` counts the items (current run attempt only) whose
 * latest attempt failed for good or timed out.
 */
export function stepStates(
  steps: Readonly<Record<string, { status: string; items?: { total: number; done: number } }>>,
  attempts: readonly {
    taskId: string;
    stepId: string;
    runAttempt?: number | null;
    itemIndex: number | null;
    attempt: number;
    status: string;
  }[],
): Record<string, StepStateLike> {
  // The latest attempt of each current task.
  const latest = new Map<
    string,
    { stepId: string; itemIndex: number | null; status: string; attempt: number }
  >();
  for (const a of attempts) {
    if (a.runAttempt !== null && a.runAttempt !== undefined) continue;
    const seen = latest.get(a.taskId);
    if (seen === undefined || a.attempt > seen.attempt) latest.set(a.taskId, a);
  }
  const failed = new Map<string, number>();
  for (const a of latest.values())
    if (a.itemIndex !== null && (a.status === 'failed' || a.status === 'timeout'))
      failed.set(a.stepId, (failed.get(a.stepId) ?? 0) + 1);
  const out: Record<string, StepStateLike> = {};
  for (const [id, step] of Object.entries(steps)) {
    out[id] =
      step.items === undefined
        ? { status: step.status }
        : {
            status: step.status,
            done: step.items.done,
            total: step.items.total,
            failed: failed.get(id) ?? 0,
          };
  }
  return out;
}
