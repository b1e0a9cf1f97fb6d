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

// Rows per multi-row insert: about 10 parameters each keeps a statement far below SQLite's
// 32,766 (and PostgreSQL's 65,535) bound parameters.
const ROWS_PER_INSERT = 1000;

function* chunks<T>(items: readonly T[]): Generator<readonly T[]> {
  for (let i = 0; i < items.length; i += ROWS_PER_INSERT) yield items.slice(i, i + ROWS_PER_INSERT);
}

/** Writes execution log lines in the caller's transaction: they commit with the state they describe. */
export async function writeLogs(trx: Kysely<SwarmDatabase>, entries: readonly LogEntry[]): Promise<void> {
  for (const chunk of chunks(entries)) {
    await trx
      .insertInto('execution_logs')
      .values(
        chunk.map((e) => ({
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
}

export interface StepMetric {
  readonly ownerId: string;
  readonly runId: string;
  readonly taskId: string;
  readonly stepId: string;
  readonly durationMs: number | null;
  readonly success: boolean;
}

/** One metrics row per finished attempt of a step: duration and success. */
export async function writeStepMetrics(
  trx: Kysely<SwarmDatabase>,
  metrics: readonly StepMetric[],
): Promise<void> {
  for (const chunk of chunks(metrics)) {
    await trx
      .insertInto('metrics')
      .values(
        chunk.map((metric) => ({
          id: newId(),
          owner_id: metric.ownerId,
          run_id: metric.runId,
          task_id: metric.taskId,
          name: 'step',
          execution_time_ms: metric.durationMs,
          success_flag: toDbBool(metric.success),
          labels: toDbJson({ step: metric.stepId }),
        })),
      )
      .execute();
  }
}
