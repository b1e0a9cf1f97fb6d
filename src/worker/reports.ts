import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { AgentReport, LogLevel } from '../runtimes/index.js';
import type { Redactor } from '../secrets/index.js';
import {
  newId,
  toDbJson,
  toDbText,
  type NewArtifact,
  type NewMessage,
  type NewUsage,
  type Store,
} from '../storage/index.js';
import { BatchedWriter } from './batched-writer.js';
import { recordUsageMetrics } from '../metrics/index.js';

/** The `messages.message_type` values. */
export const MESSAGE_TYPES: readonly string[] = [
  'request',
  'response',
  'status_update',
  'error',
  'broadcast',
];

export interface ReportWriterOptions {
  /**
   * SWARM_HOME: artifacts larger than `maxInlineBytes` are kept in files under
   * `<home>/artifacts/<owner>/<run or task>/<artifact id>`. Null: such artifacts are refused.
   */
  readonly home: string | null;
  /** Largest artifact kept in the database row. @default 256 KiB */
  readonly maxInlineBytes?: number;
  /** Artifact bytes one attempt may keep in all; past this, artifacts are refused. @default 100 MB */
  readonly maxAttemptBytes?: number;
  /** How long a report may wait for others to share its transaction. @default 100 */
  readonly delayMs?: number;
  /** Rows per transaction. @default 100 */
  readonly batchRows?: number;
  /** Reports held while the database is behind; past this, they are dropped (and counted). @default 10000 */
  readonly maxPending?: number;
}

/** The attempt a recorder reports for. */
export interface ReportingAttempt {
  readonly ownerId: string;
  readonly runId: string | null;
  readonly stepId: string | null;
  readonly taskId: string;
  readonly attempt: number;
  readonly agent: { readonly name: string; readonly version: string };
}

type AttemptLog = (level: LogLevel, message: string, metadata?: Record<string, unknown>) => void;

type Pending =
  | { kind: 'artifact'; row: NewArtifact; file: string | null }
  | { kind: 'message'; row: NewMessage }
  | { kind: 'usage'; row: NewUsage };

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function utf8(bytes: Buffer): string | null {
  try {
    return UTF8.decode(bytes);
  } catch {
    return null;
  }
}

/**
 * Records what agents report besides their output (`RuntimeContext.report`): artifacts into
 * `execution_artifacts` (small ones in the row, larger ones in files under SWARM_HOME), messages
 * into `messages`, usage as `metrics` rows named `usage` added to the run's totals. Everything is
 * redacted with the attempt's Redactor first. Writes go in batches, like the execution log:
 * `flush()` before recording an attempt's outcome puts its reports ahead of it. A write that
 * fails is reported to the worker's logger and dropped: reporting never fails an attempt.
 */
export class ReportWriter {
  private readonly maxInline: number;
  private readonly maxAttemptBytes: number;
  private readonly batches: BatchedWriter<Pending>;
  private readonly writingFiles = new Set<Promise<void>>();

  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
    private readonly options: ReportWriterOptions,
  ) {
    this.maxInline = options.maxInlineBytes ?? 256 * 1024;
    this.maxAttemptBytes = options.maxAttemptBytes ?? 100 * 1000 * 1000;
    this.batches = new BatchedWriter<Pending>({
      delayMs: options.delayMs ?? 100,
      batchRows: options.batchRows ?? 100,
      maxPending: options.maxPending ?? 10_000,
      logger,
      write: (items) => this.insert(items),
      failed: async (item, error) => {
        logger.error({ err: error, task: item.row.taskId }, `recording an agent's ${item.kind} failed`);
        if (item.kind === 'artifact' && item.file !== null) await this.removeFile(item.file);
      },
      dropped: (item) => {
        if (item.kind === 'artifact' && item.file !== null) void this.removeFile(item.file);
      },
      droppedMessage: 'agent reports dropped: the database fell behind the agents reporting',
    });
  }

  /** An attempt's `RuntimeContext.report`; `log` is its execution log (for refusals). */
  recorder(attempt: ReportingAttempt, redactor: Redactor, log: AttemptLog): (item: AgentReport) => void {
    let artifactBytes = 0;
    const base = { ownerId: attempt.ownerId, runId: attempt.runId, taskId: attempt.taskId };
    const metadata = {
      attempt: attempt.attempt,
      ...(attempt.stepId === null ? {} : { step: attempt.stepId }),
    };
    return (item) => {
      switch (item.kind) {
        case 'message': {
          if (!MESSAGE_TYPES.includes(item.messageType)) {
            log('warning', `message skipped: type must be one of ${MESSAGE_TYPES.join(', ')}`, {
              report: 'message',
              message_type: redactor.redactText(String(item.messageType)),
            });
            return;
          }
          this.push({
            kind: 'message',
            row: {
              ...base,
              id: newId(),
              sender: `${attempt.agent.name}@${attempt.agent.version}`,
              recipient: item.to === null ? null : toDbText(redactor.redactText(item.to)),
              messageType: item.messageType,
              content: toDbJson(redactor.redact(item.content ?? null)),
              metadata: toDbJson(metadata),
            },
          });
          return;
        }
        case 'usage':
          recordUsageMetrics(
            item.provider ?? null,
            item.model ?? null,
            item.inputTokens ?? null,
            item.outputTokens ?? null,
            item.cost,
            item.tokens,
          );
          this.push({
            kind: 'usage',
            row: {
              ...base,
              id: newId(),
              agent: attempt.agent,
              tokens: item.tokens,
              inputTokens: item.inputTokens ?? null,
              outputTokens: item.outputTokens ?? null,
              cost: item.cost,
              model: item.model ?? null,
              provider: item.provider ?? null,
              labels: toDbJson({
                agent: `${attempt.agent.name}@${attempt.agent.version}`,
                ...metadata,
                ...(item.model === undefined ? {} : { model: item.model }),
                ...(item.provider === undefined ? {} : { provider: item.provider }),
              }),
            },
          });
          return;
        case 'artifact': {
          const name = toDbText(redactor.redactText(item.name));
          if (item.content === null) {
            log('warning', `artifact ${name} not kept: artifacts given by path are not kept yet`, {
              report: 'artifact',
              name,
            });
            return;
          }
          // Text is redacted as text; base64 content once decoded, when it is UTF-8 text.
          let text: string | null = null;
          let bytes: Buffer;
          if (item.encoding === 'base64') {
            bytes = Buffer.from(item.content, 'base64');
            const decoded = redactor.active ? utf8(bytes) : null;
            if (decoded !== null) {
              const redacted = redactor.redactText(decoded);
              if (redacted !== decoded) bytes = Buffer.from(redacted, 'utf8');
            }
          } else {
            text = redactor.redactText(item.content);
            bytes = Buffer.from(text, 'utf8');
          }
          if (artifactBytes + bytes.length > this.maxAttemptBytes) {
            log(
              'warning',
              `artifact ${name} refused: this attempt's artifacts would exceed ${this.maxAttemptBytes} bytes`,
              { report: 'artifact', name, bytes: bytes.length },
            );
            return;
          }
          const id = newId();
          const row = {
            ...base,
            id,
            name,
            contentType: item.contentType === null ? null : toDbText(redactor.redactText(item.contentType)),
            sizeBytes: bytes.length,
            sha256: createHash('sha256').update(bytes).digest('hex'),
          };
          if (bytes.length <= this.maxInline) {
            artifactBytes += bytes.length;
            // Text the database cannot hold as is (NUL, lone surrogates) is kept as bytes.
            const inText =
              text !== null && toDbText(text) === text && Buffer.byteLength(text) === bytes.length;
            this.push({
              kind: 'artifact',
              file: null,
              row: inText
                ? { ...row, artifactType: 'text', content: text, contentBlob: null, storagePath: null }
                : { ...row, artifactType: 'binary', content: null, contentBlob: bytes, storagePath: null },
            });
            return;
          }
          if (this.options.home === null) {
            log(
              'warning',
              `artifact ${name} refused: larger than ${this.maxInline} bytes and no SWARM_HOME`,
              {
                report: 'artifact',
                name,
                bytes: bytes.length,
              },
            );
            return;
          }
          artifactBytes += bytes.length;
          const relative = path.join('artifacts', attempt.ownerId, attempt.runId ?? attempt.taskId, id);
          this.writeFile(relative, bytes, {
            kind: 'artifact',
            file: relative,
            row: { ...row, artifactType: 'file', content: null, contentBlob: null, storagePath: relative },
          });
          return;
        }
      }
    };
  }

  /** Resolves once every report handed over so far is written (or given up on). Never rejects. */
  async flush(): Promise<void> {
    while (this.writingFiles.size > 0) await Promise.all([...this.writingFiles]);
    await this.batches.flush();
  }

  private writeFile(relative: string, bytes: Buffer, item: Pending): void {
    const home = this.options.home!;
    const absolute = path.join(home, relative);
    const writing = fs
      .mkdir(path.dirname(absolute), { recursive: true, mode: 0o700 })
      .then(() => fs.writeFile(absolute, bytes, { mode: 0o600, flag: 'wx' }))
      .then(
        () => this.push(item),
        (error: unknown) =>
          this.logger.error({ err: error, task: item.row.taskId }, 'writing an artifact file failed'),
      )
      .finally(() => {
        this.writingFiles.delete(writing);
      });
    this.writingFiles.add(writing);
  }

  private push(item: Pending): void {
    this.batches.push(item);
  }

  private async insert(items: Pending[]): Promise<void> {
    await this.store.system.insertReports({
      artifacts: items.flatMap((i) => (i.kind === 'artifact' ? [i.row] : [])),
      messages: items.flatMap((i) => (i.kind === 'message' ? [i.row] : [])),
      usage: items.flatMap((i) => (i.kind === 'usage' ? [i.row] : [])),
    });
  }

  private async removeFile(relative: string): Promise<void> {
    await fs.rm(path.join(this.options.home!, relative), { force: true }).catch(() => {});
  }
}
