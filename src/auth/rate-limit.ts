import type { RateLimitAsk, RateLimits, RateLimitWindowType, Store } from '../storage/index.js';

export interface RateLimiterOptions {
  /**
   * Multiplies the length of both windows (0.1: a 6 s "minute" and a 6 min "hour"). For tests
   * only (SWARM_RATE_LIMIT_WINDOW_SCALE), so that a window ends within a test. @default 1
   */
  readonly windowScale?: number;
  /** Told when giving back reservations or pruning old windows failed. */
  readonly onError?: (error: unknown) => void;
  readonly now?: () => number;
}

/** What one request gets: whether it may proceed, and the headers that say how much is left. */
export interface RateLimitDecision {
  readonly allowed: boolean;
  /** `RateLimit-Policy`: the key's quotas (draft-ietf-httpapi-ratelimit-headers-11). */
  readonly policy: string;
  /** `RateLimit`: what is left of each quota and when its window ends. */
  readonly remaining: string;
  /** Refused: seconds until the exhausted window ends (`Retry-After`). */
  readonly retryAfterSeconds: number;
  /** Refused: the exhausted window and its limit, for the message. */
  readonly exceeded: { readonly window: RateLimitWindowType; readonly limit: number } | null;
}

const WINDOW_MS: Record<RateLimitWindowType, number> = { minute: 60_000, hour: 3_600_000 };
const WINDOWS: readonly RateLimitWindowType[] = ['minute', 'hour'];
const NONE: readonly RateLimitWindowType[] = [];
/** A reservation takes at most this share of what the database has left of a window… */
const SPREAD = 16;
/**
 * …and at most this many requests: one statement per 1,000 requests of a busy key (on SQLite a
 * reservation is a write of about 0.4 ms here, so its share per request stays under a microsecond).
 */
const MAX_CHUNK = 1000;
/** Pools are topped up ahead of need only while a reservation would be this large. */
const TOP_UP_MIN = 8;
/** A key's limits are read again after this long, so a changed limit applies within it. */
const LIMITS_TTL_MS = 30_000;
/** An exhausted window is asked about again after this long (a closing process gave some back). */
const EXHAUSTED_RECHECK_MS = 1_000;
/** Windows older than two hours are deleted this often. */
const PRUNE_INTERVAL_MS = 600_000;

interface WindowState {
  start: number;
  /** Requests this process reserved in the window and has not used yet. */
  pool: number;
  /** The window's total in the database as last seen (this process's pool included). */
  count: number;
  /** When the database last refused this window; null while it grants. */
  exhaustedAt: number | null;
}

interface KeyState {
  readonly keyId: string;
  limits: RateLimits | null;
  limitsAt: number;
  /** `RateLimit-Policy` for these limits. */
  policy: string;
  windows: Record<RateLimitWindowType, WindowState>;
  /** The key's one statement in flight (reading limits, reserving): others wait for it. */
  busy: Promise<void> | null;
}

/**
 * Per-key request limits in fixed windows — a minute and an hour, aligned to the clock (12:00:00–
 * 12:00:59, 12:00–12:59) and both checked — that hold across every process sharing the database,
 * without a database round trip per request.
 *
 * Why exact: a process serves a key's requests only out of requests it reserved for the current
 * window in `rate_limit_tracker`, and a reservation is one conditional upsert that adds `n` to
 * the window's count only if the count stays within the limit (reserveRateLimit). The counts
 * are the sum of all reservations, so all processes together never serve more than the limit.
 * Why cheap: a reservation is `remaining / 16` requests (at most 1,000), so a busy key costs
 * one statement per 1,000 requests — topped up in the background before the pool runs out, so
 * its requests do not wait for it — and a refused request is answered from memory (the database is
 * asked again at most once a second per key and process). Near the limit reservations shrink to
 * one request, used by the request that asked for it, so what one process holds back while
 * another is refused is at most the tail of a larger reservation it made earlier; a reservation
 * left unused when a window ends simply expires with it, and a closing process gives its unused
 * reservations back. Processes take the window from their own clocks: hosts are assumed to be
 * NTP-synchronised (a skewed clock shifts that process's window edges, not the per-window limit).
 */
export class RateLimiter {
  private readonly keys = new Map<string, KeyState>();
  private readonly now: () => number;
  private readonly windowMs: Record<RateLimitWindowType, number>;
  private lastPrune = 0;
  private pruning: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly store: Store,
    private readonly options: RateLimiterOptions = {},
  ) {
    const scale = options.windowScale ?? 1;
    if (!(scale > 0 && scale <= 1)) throw new RangeError(`windowScale must be in (0, 1], got ${scale}`);
    this.now = options.now ?? Date.now;
    this.windowMs = {
      minute: Math.max(1000, Math.round(WINDOW_MS.minute * scale)),
      hour: Math.max(1000, Math.round(WINDOW_MS.hour * scale)),
    };
  }

  /**
   * Counts one request of the key and says whether it may proceed; null when the key has no row
   * (nothing to limit by). Requests refused are not counted.
   */
  async take(keyId: string): Promise<RateLimitDecision | null> {
    const state = this.stateOf(keyId);
    for (;;) {
      const next = this.step(state);
      if (next === 'busy') await state.busy;
      else if (next === 'limits') await this.exclusive(state, () => this.readLimits(state));
      else if (Array.isArray(next)) await this.exclusive(state, () => this.reserve(state, next));
      else return next;
    }
  }

  /**
   * `take` without waiting, for the common case: the decision when this process can make it from
   * memory; undefined when it must ask the database first (then call `take`).
   */
  takeNow(keyId: string): RateLimitDecision | null | undefined {
    const next = this.step(this.stateOf(keyId));
    return next === 'busy' || next === 'limits' || Array.isArray(next) ? undefined : next;
  }

  /**
   * The decision when memory suffices; else what must come from the database first: the key's
   * limits, or reservations (or 'busy': wait for the statement in flight). Requests are served
   * from the pools while a statement is in flight; a pool running low is topped up in the
   * background (far from the limit only), so a busy key's requests do not wait for it.
   */
  private step(state: KeyState): RateLimitDecision | null | 'busy' | 'limits' | RateLimitAsk[] {
    const now = this.now();
    if (state.limitsAt === 0) return state.busy === null ? 'limits' : 'busy';
    const limits = state.limits;
    if (limits === null) return null;
    let asks: RateLimitAsk[] | null = null;
    let refused: RateLimitWindowType[] | null = null;
    for (const type of WINDOWS) {
      const window = this.current(state, type, now);
      if (window.pool > 0) continue;
      if (window.exhaustedAt !== null && now - window.exhaustedAt < EXHAUSTED_RECHECK_MS) {
        (refused ??= []).push(type);
        continue;
      }
      (asks ??= []).push(this.ask(state, limits, type));
    }
    if (refused !== null) return this.decision(state, limits, now, refused);
    if (asks !== null) return state.busy === null ? asks : 'busy';
    for (const type of WINDOWS) state.windows[type].pool--;
    if (state.busy === null) this.topUp(state, limits, now);
    return this.decision(state, limits, now, NONE);
  }

  /** The next reservation of a window: a sixteenth of what is left, 1 to 1,000. */
  private ask(state: KeyState, limits: RateLimits, type: RateLimitWindowType): RateLimitAsk {
    const window = state.windows[type];
    const limit = limitOf(limits, type);
    const left = limit - window.count;
    const want = left <= 0 ? 1 : Math.min(MAX_CHUNK, Math.max(1, Math.floor(left / SPREAD)));
    return { windowType: type, windowStart: new Date(window.start).toISOString(), limit, want };
  }

  /**
   * In the background: limits older than LIMITS_TTL_MS are read again, and a pool down to a
   * quarter of its next reservation gets that reservation — only when the reservation is at least
   * TOP_UP_MIN, i.e. far from the limit, so that near it nothing is held ahead of need.
   */
  private topUp(state: KeyState, limits: RateLimits, now: number): void {
    if (now - state.limitsAt >= LIMITS_TTL_MS) {
      this.background(state, () => this.readLimits(state));
      return;
    }
    let asks: RateLimitAsk[] | null = null;
    for (const type of WINDOWS) {
      // Most requests: the pool is far above any reservation's quarter (want is at most MAX_CHUNK).
      if (state.windows[type].pool * 4 > MAX_CHUNK) continue;
      const next = this.ask(state, limits, type);
      if (next.want >= TOP_UP_MIN && state.windows[type].pool * 4 <= next.want) (asks ??= []).push(next);
    }
    if (asks !== null) {
      const ready = asks;
      this.background(state, () => this.reserve(state, ready));
    }
  }

  private background(state: KeyState, fn: () => Promise<void>): void {
    this.exclusive(state, fn).catch((error: unknown) => this.options.onError?.(error));
  }

  private async readLimits(state: KeyState): Promise<void> {
    const limits = await this.store.system.findRateLimits(state.keyId);
    state.limits = limits;
    state.limitsAt = this.now();
    // Built once per read of the limits, not per request.
    state.policy =
      limits === null
        ? ''
        : WINDOWS.map(
            (type) => `"${type}";q=${limitOf(limits, type)};w=${Math.round(this.windowMs[type] / 1000)}`,
          ).join(', ');
  }

  /** Gives back what this process reserved and did not use, and waits for a prune in flight. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const now = this.now();
    for (const [keyId, state] of this.keys) {
      await state.busy?.catch(() => {});
      for (const type of WINDOWS) {
        const window = state.windows[type];
        if (window.pool === 0 || window.start + this.windowMs[type] <= now) continue;
        const count = window.pool;
        window.pool = 0;
        await this.store.system
          .releaseRateLimit(keyId, {
            windowType: type,
            windowStart: new Date(window.start).toISOString(),
            count,
          })
          .catch((error: unknown) => this.options.onError?.(error));
      }
    }
    await this.pruning;
  }

  /** One reservation statement; asks refused whole are asked again for one request. */
  private async reserve(state: KeyState, asks: RateLimitAsk[]): Promise<void> {
    let pending = asks;
    while (pending.length > 0) {
      const grants = await this.store.system.reserveRateLimit(state.keyId, pending);
      const retry: RateLimitAsk[] = [];
      for (const [i, grant] of grants.entries()) {
        const ask = pending[i]!;
        const window = state.windows[ask.windowType];
        // A background reservation may come back after its window ended: nothing to keep then.
        if (new Date(window.start).toISOString() !== ask.windowStart) continue;
        if (grant.granted) {
          window.pool += ask.want;
          window.count = grant.count ?? window.count + ask.want;
          window.exhaustedAt = null;
        } else if (ask.want > 1) {
          retry.push({ ...ask, want: 1 });
        } else {
          window.count = Math.max(window.count, ask.limit);
          window.exhaustedAt = this.now();
        }
      }
      pending = retry;
    }
    this.maybePrune();
  }

  /** Runs `fn` as the key's one statement in flight; waiters retry when it settles. */
  private async exclusive(state: KeyState, fn: () => Promise<void>): Promise<void> {
    const run = fn().finally(() => {
      state.busy = null;
    });
    state.busy = run.catch(() => {});
    await run;
  }

  /** The key's state for the window `now` falls in; a new window starts empty. */
  private current(state: KeyState, type: RateLimitWindowType, now: number): WindowState {
    const start = Math.floor(now / this.windowMs[type]) * this.windowMs[type];
    const window = state.windows[type];
    if (window.start !== start) {
      window.start = start;
      window.pool = 0;
      window.count = 0;
      window.exhaustedAt = null;
    }
    return window;
  }

  private decision(
    state: KeyState,
    limits: RateLimits,
    now: number,
    refused: readonly RateLimitWindowType[],
  ): RateLimitDecision {
    const secondsLeft = (type: RateLimitWindowType) =>
      Math.max(1, Math.ceil((state.windows[type].start + this.windowMs[type] - now) / 1000));
    const remaining = WINDOWS.map((type) => {
      const window = state.windows[type];
      // What the database has not granted to anyone, plus what this process holds: exact with one
      // process; with several, an upper bound (others may hold some of the first part).
      const left = refused.includes(type)
        ? 0
        : Math.max(0, limitOf(limits, type) - window.count) + window.pool;
      return `"${type}";r=${left};t=${secondsLeft(type)}`;
    }).join(', ');
    const worst = refused.length === 0 ? null : refused.includes('hour') ? 'hour' : refused[0]!;
    return {
      allowed: refused.length === 0,
      policy: state.policy,
      remaining,
      retryAfterSeconds: worst === null ? 0 : secondsLeft(worst),
      exceeded: worst === null ? null : { window: worst, limit: limitOf(limits, worst) },
    };
  }

  private stateOf(keyId: string): KeyState {
    let state = this.keys.get(keyId);
    if (state === undefined) {
      const empty = (): WindowState => ({ start: -1, pool: 0, count: 0, exhaustedAt: null });
      state = {
        keyId,
        limits: null,
        limitsAt: 0,
        policy: '',
        windows: { minute: empty(), hour: empty() },
        busy: null,
      };
      this.keys.set(keyId, state);
    }
    return state;
  }

  /** Every 10 minutes: deletes windows that ended over two hours ago, and forgets idle keys. */
  private maybePrune(): void {
    const now = this.now();
    if (now - this.lastPrune < PRUNE_INTERVAL_MS || this.closed) return;
    this.lastPrune = now;
    for (const [keyId, state] of this.keys) {
      const hour = state.windows.hour;
      if (state.busy === null && hour.start + this.windowMs.hour <= now && hour.pool === 0)
        this.keys.delete(keyId);
    }
    const before = new Date(now - 2 * this.windowMs.hour).toISOString();
    this.pruning = this.pruning
      .then(() => this.store.system.pruneRateLimits(before))
      .then(
        () => {},
        (error: unknown) => this.options.onError?.(error),
      );
  }
}

function limitOf(limits: RateLimits, type: RateLimitWindowType): number {
  return type === 'minute' ? limits.perMinute : limits.perHour;
}
