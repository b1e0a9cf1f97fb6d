import type { Kysely } from 'kysely';
import { newId, toDbBool, toDbJson, type SwarmDatabase } from '../storage/index.js';

export interface LogEntry {
  readonly ownerId: string;
  readonly runId: string;
  readonly stepId?: string | null;
  readonly taskId?: string | null;
  readonly level?: 'debug' | 'info' | 'warning' | 'error' | 'critical';
  readonly eventType?: 'execution' | 'decision' | 'error' | 'metric' | 'state_change';
  readonly message: string;
  readonly metadata?: Record<string, unknown>;
}

/** Writes execution log lines in the caller's transaction: they commit with the state they describe. */
export async function writeLogs(trx: Kysely<SwarmDatabase>, entries: readonly LogEntry[]): Promise<void> {
  if (entries.length === 0) return;
  await trx
    .insertInto('execution_logs')
    .values(
      entries.map((e) => ({
        id: newId(),
        owner_id: e.ownerId,
        run_id: e.runId,
        step_id: e.stepId ?? null,
        task_id: e.taskId ?? null,
        agent_id: null,
        level: e.level ?? 'info',
        event_type: e.eventType ?? 'state_change',
        message: e.message,
        metadata: toDbJson(e.metadata ?? {}),
      })),
    )
    .execute();
}

/** One metrics row per finished attempt of a step: duration and success. */
export async function writeStepMetric(
  trx: Kysely<SwarmDatabase>,
  metric: {
    ownerId: string;
    runId: string;
    taskId: string;
    stepId: string;
    durationMs: number | null;
    success: boolean;
  },
): Promise<void> {
  await trx
    .insertInto('metrics')
    .values({
      id: newId(),
      owner_id: metric.ownerId,
      run_id: metric.runId,
      task_id: metric.taskId,
      name: 'step',
      execution_time_ms: metric.durationMs,
      success_flag: toDbBool(metric.success),
      labels: toDbJson({ step: metric.stepId }),
    })
    .execute();
}
