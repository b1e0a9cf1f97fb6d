import type { Logger } from 'pino';
import { bisectFailures } from '../queue/index.js';

export interface BatchedWriterOptions<T> {
  /** How long an item may wait for others to share its write. */
  readonly delayMs: number;
  /** Items per write. */
  readonly batchRows: number;
  /** Items waiting at most; beyond it new ones are dropped (and counted). */
  readonly maxPending: number;
  readonly logger: Logger;
  /** Writes a batch; a rejection makes its halves be written on their own, down to single items. */
  readonly write: (items: T[]) => Promise<void>;
  /** An item that could not be written even alone: it is given up on. */
  readonly failed: (item: T, error: unknown) => void | Promise<void>;
  /** An item dropped because too many were waiting. */
  readonly dropped?: (item: T) => void;
  /** What the warning says when items were dropped. */
  readonly droppedMessage: string;
}

/**
 * What the worker's execution-log and report writers share: items wait at most `delayMs` for
 * others to share their write, a full batch is written at once, `flush()` writes everything
 * handed over so far, one bad item never loses the others of its batch, and when the database
 * falls behind, items past `maxPending` are dropped with one warning. Writing never throws.
 */
export class BatchedWriter<T> {
  private pending: T[] = [];
  private dropped = 0;
  private timer: NodeJS.Timeout | null = null;
  private draining: Promise<void> | null = null;

  constructor(private readonly options: BatchedWriterOptions<T>) {}

  push(item: T): void {
    if (this.pending.length >= this.options.maxPending) {
      this.dropped++;
      this.options.dropped?.(item);
      return;
    }
    this.pending.push(item);
    if (this.pending.length >= this.options.batchRows) void this.flush();
    else if (this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.flush();
      }, this.options.delayMs);
      this.timer.unref();
    }
  }

  /** Resolves once every item pushed so far is written (or given up on). Never rejects. */
  flush(): Promise<void> {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.draining ??= this.drain().finally(() => {
      this.draining = null;
    });
    return this.draining;
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0) await this.write(this.pending.splice(0, this.options.batchRows));
    if (this.dropped > 0) {
      this.options.logger.warn({ dropped: this.dropped }, this.options.droppedMessage);
      this.dropped = 0;
    }
  }

  private async write(items: T[]): Promise<void> {
    // One bad item must not lose the others: a failed write is retried in halves.
    const { failed } = await bisectFailures(items, this.options.write);
    for (const { item, error } of failed) await this.options.failed(item, error);
  }
}
