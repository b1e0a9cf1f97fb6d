import type { Kysely, RawBuilder } from 'kysely';
import {
  newId,
  toDbBool,
  toDbJson,
  type DialectAdapter,
  type LogicalType,
  type SwarmDatabase,
} from '../storage/index.js';

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

type Column = { readonly name: string; readonly type: LogicalType };

const LOG_COLUMNS = [
  { name: 'id', type: 'text' },
  { name: 'owner_id', type: 'text' },
  { name: 'run_id', type: 'text' },
  { name: 'step_id', type: 'text' },
  { name: 'task_id', type: 'text' },
  { name: 'level', type: 'text' },
  { name: 'event_type', type: 'text' },
  { name: 'message', type: 'text' },
  { name: 'metadata', type: 'json' },
] as const satisfies readonly Column[];

const METRIC_COLUMNS = [
  { name: 'id', type: 'text' },
  { name: 'owner_id', type: 'text' },
  { name: 'run_id', type: 'text' },
  { name: 'task_id', type: 'text' },
  { name: 'name', type: 'text' },
  { name: 'execution_time_ms', type: 'bigint' },
  { name: 'success_flag', type: 'boolean' },
  { name: 'labels', type: 'json' },
] as const satisfies readonly Column[];

/**
 * Many rows into a records table: one statement binding a few parameters whatever the row count
 * (the dialect's rowsAsSelect), else multi-row VALUES in chunks.
 */
async function insertMany<T extends 'execution_logs' | 'metrics'>(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  table: T,
  columns: readonly Column[],
  rows: readonly Record<string, unknown>[],
): Promise<void> {
  if (rows.length === 0) return;
  const asSelect = dialect.rowsAsSelect(columns, rows);
  if (asSelect !== null) {
    await trx
      .insertInto(table)
      .columns(columns.map((c) => c.name) as never)
      .expression(asSelect as RawBuilder<never>)
      .execute();
    return;
  }
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT)
    await trx
      .insertInto(table)
      .values(rows.slice(i, i + ROWS_PER_INSERT) as never)
      .execute();
}

/** Writes execution log lines in the caller's transaction: they commit with the state they describe. */
export async function writeLogs(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  entries: readonly LogEntry[],
): Promise<void> {
  await insertMany(
    trx,
    dialect,
    'execution_logs',
    LOG_COLUMNS,
    entries.map((e) => ({
      id: newId(),
      owner_id: e.ownerId,
      run_id: e.runId,
      step_id: e.stepId ?? null,
      task_id: e.taskId ?? null,
      level: e.level ?? 'info',
      event_type: e.eventType ?? 'state_change',
      message: e.message,
      metadata: toDbJson(e.metadata ?? {}),
    })),
  );
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
  dialect: DialectAdapter,
  metrics: readonly StepMetric[],
): Promise<void> {
  await insertMany(
    trx,
    dialect,
    'metrics',
    METRIC_COLUMNS,
    metrics.map((metric) => ({
      id: newId(),
      owner_id: metric.ownerId,
      run_id: metric.runId,
      task_id: metric.taskId,
      name: 'step',
      execution_time_ms: metric.durationMs,
      success_flag: toDbBool(metric.success),
      labels: toDbJson({ step: metric.stepId }),
    })),
  );
}
