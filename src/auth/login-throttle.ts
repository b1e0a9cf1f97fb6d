import type { LoginSubject, Store } from '../storage/index.js';

export interface LoginThrottleOptions {
  /** Failures of one account (email) before it is locked out. @default 5 */
  readonly accountThreshold?: number;
  /** Failures from one source address (an IPv6 /64) before it is locked out. @default 20 */
  readonly addressThreshold?: number;
  /** The first lockout; each further failure doubles it. @default 1000 */
  readonly baseDelayMs?: number;
  /** The longest lockout. @default 900000 (15 min) */
  readonly maxDelayMs?: number;
  /** Failures older than this are forgotten (the count starts again). @default 3600000 (1 h) */
  readonly forgetAfterMs?: number;
  /** Injectable clock, for tests. */
  readonly now?: () => number;
}

const PRUNE_INTERVAL_MS = 3_600_000;

/**
 * Sign-in throttling per account and per source address, with growing lockouts: past the
 * threshold, each failure locks the subject for twice as long as the one before (1 s, 2 s, 4 s…
 * up to 15 min). Counts live in the database (`login_attempts`, upserts), so every server
 * process sharing it holds the same count. An account's count is kept whether or not a user has
 * that email (so the answer says nothing about which emails exist) and cleared by a success; an
 * address's is not cleared by a success (one's own account would otherwise reset it between
 * guesses at others') and is forgotten an hour after its last failure.
 */
export class LoginThrottle {
  private readonly accountThreshold: number;
  private readonly addressThreshold: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly forgetAfterMs: number;
  private readonly now: () => number;
  private lastPrune = 0;

  constructor(
    private readonly store: Store,
    options: LoginThrottleOptions = {},
  ) {
    this.accountThreshold = options.accountThreshold ?? 5;
    this.addressThreshold = options.addressThreshold ?? 20;
    this.baseDelayMs = options.baseDelayMs ?? 1000;
    this.maxDelayMs = options.maxDelayMs ?? 900_000;
    this.forgetAfterMs = Math.max(options.forgetAfterMs ?? 3_600_000, this.maxDelayMs);
    this.now = options.now ?? Date.now;
  }

  /** Milliseconds until a sign-in for this email from this address may be tried; 0 when now. */
  async wait(email: string, address: string | undefined): Promise<number> {
    const now = this.now();
    const rows = await this.store.system.loginAttempts.read(subjects(email, address));
    let until = 0;
    for (const row of rows)
      if (row.lockedUntil !== null) until = Math.max(until, Date.parse(row.lockedUntil));
    return Math.max(0, until - now);
  }

  /** Counts a failed sign-in against the email and the address, locking them past their thresholds. */
  async fail(email: string, address: string | undefined): Promise<void> {
    const now = this.now();
    const at = new Date(now).toISOString();
    const forgetBefore = new Date(now - this.forgetAfterMs).toISOString();
    for (const subject of subjects(email, address)) {
      const failures = await this.store.system.loginAttempts.addFailure(subject, at, forgetBefore);
      const threshold = subject.kind === 'account' ? this.accountThreshold : this.addressThreshold;
      const delay = this.delayFor(failures, threshold);
      if (delay > 0) await this.store.system.loginAttempts.lock(subject, new Date(now + delay).toISOString());
    }
    if (now - this.lastPrune >= PRUNE_INTERVAL_MS) {
      this.lastPrune = now;
      await this.store.system.loginAttempts.prune(forgetBefore);
    }
  }

  /** A successful sign-in forgets the account's failures (not the address's). */
  async succeed(email: string): Promise<void> {
    await this.store.system.loginAttempts.clear(subjects(email, undefined)[0]!);
  }

  /** The lockout the `failures`-th failure earns: none below the threshold, then doubling. */
  delayFor(failures: number, threshold: number): number {
    if (failures < threshold) return 0;
    const doublings = Math.min(failures - threshold, 30);
    return Math.min(this.baseDelayMs * 2 ** doublings, this.maxDelayMs);
  }
}

function subjects(email: string, address: string | undefined): LoginSubject[] {
  const list: LoginSubject[] = [{ kind: 'account', subject: email.trim().toLowerCase().slice(0, 320) }];
  if (address !== undefined && address !== '')
    list.push({ kind: 'address', subject: addressSubject(address) });
  return list;
}

/**
 * The address a failure counts against: an IPv4 address as is, an IPv6 address by its /64 (one
 * host usually has a whole /64, so counting single IPv6 addresses would be easy to dodge).
 */
export function addressSubject(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped !== null) return mapped[1]!;
  if (!address.includes(':')) return address;
  const [head = '', tail = ''] = address.split('%')[0]!.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = address.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
  const groups = address.includes('::')
    ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => (parseInt(g, 16) || 0).toString(16))
    .join(':')}::/64`;
}
