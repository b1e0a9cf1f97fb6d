import type { Logger } from 'pino';
import type { LogLevel } from '../runtimes/index.js';
import { newId, toDbJson, type LogicalType, type Store } from '../storage/index.js';
import { BatchedWriter } from './batched-writer.js';

/** One line a runtime logged for an attempt of a run's task (already redacted). */
export interface AttemptLogLine {
  readonly ownerId: string;
  readonly runId: string;
  readonly stepId: string | null;
  readonly taskId: string;
  readonly level: LogLevel;
  readonly message: string;
  readonly metadata: Record<string, unknown>;
}

export interface ExecutionLogWriterOptions {
  /** How long a line may wait for others to share its insert. @default 100 */
  readonly delayMs?: number;
  /** Rows per insert. @default 1000 (9 parameters each: far below SQLite's 32,766) */
  readonly batchRows?: number;
  /** Lines held while the database is behind; past this, lines are dropped (and counted). @default 50000 */
  readonly maxPending?: number;
}

const COLUMNS = [
  { name: 'id', type: 'text' },
  { name: 'owner_id', type: 'text' },
  { name: 'run_id', type: 'text' },
  { name: 'step_id', type: 'text' },
  { name: 'task_id', type: 'text' },
  { name: 'level', type: 'text' },
  { name: 'event_type', type: 'text' },
  { name: 'message', type: 'text' },
  { name: 'metadata', type: 'json' },
] as const satisfies readonly { name: string; type: LogicalType }[];

type Row = Record<(typeof COLUMNS)[number]['name'], string | null>;

// What PostgreSQL refuses in text and JSONB (NUL; unpaired UTF-16 surrogates, which agents can
// write as JSON escapes), replaced by U+FFFD so one odd line cannot lose a batch.
// eslint-disable-next-line no-control-regex
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const storable = (text: string): string => text.replace(UNSTORABLE, '\uFFFD');

/** A JSON value with every string (keys too) storable. */
function storableJson(value: unknown): unknown {
  if (typeof value === 'string') return storable(value);
  if (Array.isArray(value)) return value.map(storableJson);
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [storable(k), storableJson(v)]));
  return value;
}

function rowOf(line: AttemptLogLine): Row {
  let metadata: string;
  try {
    metadata = toDbJson(storableJson(JSON.parse(JSON.stringify(line.metadata)) as unknown));
  } catch {
    metadata = toDbJson({ metadata_error: 'not JSON' });
  }
  return {
    id: newId(),
    owner_id: line.ownerId,
    run_id: line.runId,
    step_id: line.stepId,
    task_id: line.taskId,
    level: line.level,
    event_type: 'execution',
    message: storable(line.message),
    metadata,
  };
}

/**
 * Writes what runtimes log during attempts (an agent's log lines, its stdout text and stderr)
 * into the runs' execution logs, in batches: a line waits at most `delayMs` for others to share
 * its insert. `flush()` before recording an attempt's outcome puts its lines ahead of the
 * engine's own (`step … completed`). A write that fails is reported to the worker's logger and
 * dropped: logging never fails an attempt.
 */
export class ExecutionLogWriter {
  private readonly batches: BatchedWriter<Row>;

  constructor(
    private readonly store: Store,
    logger: Logger,
    options: ExecutionLogWriterOptions = {},
  ) {
    this.batches = new BatchedWriter<Row>({
      delayMs: options.delayMs ?? 100,
      batchRows: options.batchRows ?? 1000,
      maxPending: options.maxPending ?? 50_000,
      logger,
      write: (rows) => this.insert(rows),
      failed: (row, error) =>
        logger.error({ err: error, task: row.task_id }, 'writing an execution log line failed'),
      droppedMessage: 'execution log lines dropped: the database fell behind the agents logging',
    });
  }

  push(line: AttemptLogLine): void {
    this.batches.push(rowOf(line));
  }

  /** Resolves once every line pushed so far is written (or given up on). Never rejects. */
  flush(): Promise<void> {
    return this.batches.flush();
  }

  private async insert(rows: Row[]): Promise<void> {
    const { db, dialect } = this.store.handle;
    const asSelect = dialect.rowsAsSelect(COLUMNS, rows);
    if (asSelect !== null) {
      await db
        .insertInto('execution_logs')
        .columns(COLUMNS.map((c) => c.name))
        .expression(asSelect as never)
        .execute();
      return;
    }
    await db
      .insertInto('execution_logs')
      .values(rows as never)
      .execute();
  }
}
