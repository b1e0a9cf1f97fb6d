/**
 * What is gathered in memory per request and written every few seconds, and on close, in one
 * statement: a database write per batch, not per request. `write` never rejects (a subclass
 * keeps what failed for the next batch and reports the error); writes never overlap.
 */
export abstract class BatchedWriter {
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly flushIntervalMs: number) {}

  /** Writes every `flushIntervalMs` until close(). */
  start(): this {
    if (this.timer === null) {
      this.timer = setInterval(() => void this.flush(), this.flushIntervalMs);
      this.timer.unref();
    }
    return this;
  }

  /** Writes what was gathered so far, after any write under way. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.write());
    return this.flushing;
  }

  /** Stops the timer and writes what is left. */
  async close(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }

  protected abstract write(): Promise<void>;
}
