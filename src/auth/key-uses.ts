import type { Store } from '../storage/index.js';
import { BatchedWriter } from './batched-writer.js';

export interface KeyUsesOptions {
  /** How often the gathered uses are written. @default 5000 */
  readonly flushIntervalMs?: number;
  /** A failed write (the uses are kept for the next one). */
  readonly onError?: (error: unknown) => void;
}

/** More keys than this waiting (the database away for long): the rest wait for a later use. */
const MAX_PENDING = 100_000;

/**
 * `api_keys.last_used_at` without a write per request: each authenticated request notes its key's
 * use in memory, and every few seconds (and on close) one statement writes them all. The time
 * written is the key's last use, so it is exact; it only reaches the database a little later.
 */
export class KeyUses extends BatchedWriter {
  private pending = new Map<string, string>();

  constructor(
    private readonly store: Store,
    private readonly options: KeyUsesOptions = {},
  ) {
    super(options.flushIntervalMs ?? 5000);
  }

  note(keyId: string, at: number = Date.now()): void {
    if (this.pending.size >= MAX_PENDING && !this.pending.has(keyId)) return;
    this.pending.set(keyId, new Date(at).toISOString());
  }

  protected async write(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    try {
      await this.store.system.touchApiKeys(batch);
    } catch (error) {
      // Back for the next flush, unless a newer use was noted meanwhile.
      for (const [id, at] of batch) if (!this.pending.has(id)) this.pending.set(id, at);
      this.options.onError?.(error);
    }
  }
}
