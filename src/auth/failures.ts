import type { AuthFailureCount, Store } from '../storage/index.js';
import { BatchedWriter } from './batched-writer.js';

/** One failed authentication, as the counter is told of it. */
export interface AuthFailure {
  readonly kind: AuthFailureCount['kind'];
  /** Why it failed: a short, fixed phrase (never anything the caller sent). */
  readonly reason: string;
  readonly ipAddress?: string;
  /** API keys: the first characters of the key sent. */
  readonly keyPrefix?: string;
  /** Webhooks: the trigger's id. */
  readonly resourceId?: string;
  /** Who else may read the count: a webhook trigger's owner, a known (revoked) key's owner. */
  readonly ownerId?: string | null;
  readonly userAgent?: string;
}

/** Where failures are reported; the counter below, or anything that counts them the same way. */
export interface AuthFailureSink {
  record(failure: AuthFailure): void;
}

export interface AuthFailureCounterOptions {
  /** @default 60 */
  readonly windowSeconds?: number;
  /** Windows older than this many days are deleted (checked hourly). @default 30 */
  readonly retentionDays?: number;
  /** How often counts are written. @default 2000 */
  readonly flushIntervalMs?: number;
  /** Told when writing counts failed (they are kept and tried again). */
  readonly onError?: (error: unknown) => void;
  readonly now?: () => number;
}

/**
 * Distinct rows one window may get from this process. Past it, failures are counted in one
 * overflow row per kind and reason (address and key prefix `*`), so a caller who varies the key
 * or the source address (an IPv6 /64 has plenty) still cannot multiply the rows.
 */
export const MAX_ROWS_PER_WINDOW = 256;
/** Distinct key prefixes counted apart per address and window; more share prefix `*`. */
export const MAX_PREFIXES_PER_ADDRESS = 16;
/** Counts kept while the database refuses them, before the oldest are dropped. */
const MAX_PENDING = 4 * MAX_ROWS_PER_WINDOW;
const PRUNE_INTERVAL_MS = 3_600_000;

interface Pending {
  count: AuthFailureCount;
  attempts: number;
  lastAt: number;
  userAgent: string | null;
}

/**
 * Counts failed authentications per window, source address, key prefix (or webhook trigger) and
 * reason, instead of writing an audit row per request: 1,000 bad keys from one address in a
 * minute are one row with `attempts` 1,000. Counts are kept in memory and added to their rows
 * (an upsert, so several servers on one database add up) every `flushIntervalMs` and on close;
 * a crash loses at most that interval's counts. Rows per window are bounded (see above).
 */
export class AuthFailureCounter extends BatchedWriter implements AuthFailureSink {
  private readonly windowMs: number;
  private readonly now: () => number;
  private pending = new Map<string, Pending>();
  private windowStart = -1;
  /** This window's rows, and each address's key prefixes, for the bounds. */
  private windowRows = new Set<string>();
  private windowPrefixes = new Map<string, Set<string>>();
  private lastPrune = 0;

  constructor(
    private readonly store: Store,
    private readonly options: AuthFailureCounterOptions = {},
  ) {
    super(options.flushIntervalMs ?? 2000);
    this.windowMs = (options.windowSeconds ?? 60) * 1000;
    this.now = options.now ?? Date.now;
  }

  record(failure: AuthFailure): void {
    const now = this.now();
    const windowStart = Math.floor(now / this.windowMs) * this.windowMs;
    if (windowStart !== this.windowStart) {
      this.windowStart = windowStart;
      this.windowRows = new Set();
      this.windowPrefixes = new Map();
    }
    let ipAddress = failure.ipAddress ?? '';
    let keyPrefix = failure.keyPrefix ?? '';
    if (this.windowRows.size >= MAX_ROWS_PER_WINDOW) {
      ipAddress = '*';
      keyPrefix = '*';
    } else {
      let prefixes = this.windowPrefixes.get(ipAddress);
      if (prefixes === undefined) this.windowPrefixes.set(ipAddress, (prefixes = new Set()));
      if (!prefixes.has(keyPrefix)) {
        if (prefixes.size >= MAX_PREFIXES_PER_ADDRESS) keyPrefix = '*';
        else prefixes.add(keyPrefix);
      }
    }
    const resourceId = failure.resourceId ?? '';
    const key = JSON.stringify([failure.kind, windowStart, ipAddress, keyPrefix, resourceId, failure.reason]);
    this.windowRows.add(key);
    const seen = this.pending.get(key);
    const userAgent = failure.userAgent?.slice(0, 512) ?? null;
    if (seen !== undefined) {
      seen.attempts++;
      seen.lastAt = now;
      seen.userAgent = userAgent;
      return;
    }
    const at = new Date(now).toISOString();
    this.pending.set(key, {
      count: {
        kind: failure.kind,
        windowStart: new Date(windowStart).toISOString(),
        ipAddress,
        keyPrefix,
        resourceId,
        reason: failure.reason,
        attempts: 1,
        firstAt: at,
        lastAt: at,
        userAgent,
        ownerId: failure.ownerId ?? null,
      },
      attempts: 1,
      lastAt: now,
      userAgent,
    });
  }

  protected async write(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    try {
      if (batch.size > 0) {
        await this.store.system.addAuthFailures(
          [...batch.values()].map((p) => ({
            ...p.count,
            attempts: p.attempts,
            lastAt: new Date(p.lastAt).toISOString(),
            userAgent: p.userAgent,
          })),
        );
      }
      const now = this.now();
      if (now - this.lastPrune >= PRUNE_INTERVAL_MS) {
        this.lastPrune = now;
        const days = this.options.retentionDays ?? 30;
        await this.store.system.pruneAuthFailures(new Date(now - days * 86_400_000).toISOString());
      }
    } catch (error) {
      // Put the counts back (merged with any gathered meanwhile) for the next flush, oldest
      // dropped first if the database stays away long enough for them to pile up.
      for (const [key, item] of this.pending) {
        const older = batch.get(key);
        if (older === undefined) {
          batch.set(key, item);
        } else {
          older.attempts += item.attempts;
          older.lastAt = item.lastAt;
          older.userAgent = item.userAgent;
        }
      }
      this.pending = batch;
      for (const key of this.pending.keys()) {
        if (this.pending.size <= MAX_PENDING) break;
        this.pending.delete(key);
      }
      this.options.onError?.(error);
    }
  }
}
