import { toDbTimestamp } from '../storage/index.js';
import type { ClaimRow } from './rows.js';

/**
 * Claim on complete (issue 18): a worker recording completions may take the tasks those
 * completions release — a run's next steps — in the same transaction. They are inserted
 * RUNNING under the worker's lease instead of PENDING, so the step costs one row version and
 * no claim: no round trip, no walk of the ready index, no second update.
 *
 * Only what a claim would have taken at once: no flow-control key (keys are admitted by the
 * keyed claim, under their limits; owner quotas and agents' max_concurrency are keys too), no
 * idempotency key, due now and not expiring. The caller bounds how many (`room`); the worker
 * keeps half its slots for claims from the queue, so tasks waiting there — another owner's,
 * a higher priority — still start within a claim cycle while runs go on eagerly.
 */
export interface EagerClaimOptions {
  readonly workerId: string;
  readonly leaseMs: number;
  /** Most tasks to take over the whole call. */
  readonly room: number;
}

/** A task taken, with when (epoch ms). */
export interface EagerlyClaimed {
  readonly row: ClaimRow;
  readonly startedMs: number;
}

/** The tasks taken in one completion call: committed transactions' only. */
export class EagerClaim {
  readonly workerId: string;
  readonly leaseMs: number;
  /** Tasks it may still take. */
  room: number;
  readonly claimed: EagerlyClaimed[] = [];

  constructor(options: EagerClaimOptions) {
    this.workerId = options.workerId;
    this.leaseMs = options.leaseMs;
    this.room = Math.max(0, Math.floor(options.room));
  }

  /**
   * Runs `fn` with this claim open in transaction `db` (what enqueueTasks is given), and returns
   * what it took there. A write transaction may run its callback again after a conflict: each
   * run takes afresh, and only the one that commits is accepted.
   */
  async within<T>(db: object, fn: () => Promise<T>): Promise<{ result: T; taken: EagerTransaction }> {
    const tx = new EagerTransaction(this);
    open.set(db, tx);
    try {
      return { result: await fn(), taken: tx };
    } finally {
      open.delete(db);
    }
  }

  /** After the transaction committed: its tasks are the worker's. */
  accept(tx: EagerTransaction): void {
    for (const row of tx.taken) this.claimed.push(row);
    this.room -= tx.taken.length;
  }
}

/** One transaction's share of an EagerClaim. */
export class EagerTransaction {
  readonly taken: EagerlyClaimed[] = [];

  constructor(readonly claim: EagerClaim) {}

  /** Tasks it may still take: what the claim had left, less what this transaction took. */
  get room(): number {
    return this.claim.room - this.taken.length;
  }

  /** Whether `row`, inserted at `nowMs`, is one a claim then would take at once. */
  mayTake(
    row: {
      concurrency_key: string | null;
      idempotency_key: string | null;
      run_at: string;
      expires_at: string | null;
    },
    nowMs: number,
  ): boolean {
    return (
      row.concurrency_key === null &&
      row.idempotency_key === null &&
      row.expires_at === null &&
      Date.parse(row.run_at) <= nowMs
    );
  }

  /** The columns a claim at `nowMs` sets (startedColumns), for rows inserted claimed: lease 1. */
  startedColumns(nowMs: number) {
    const { leaseMs, workerId } = this.claim;
    const now = toDbTimestamp(new Date(nowMs));
    return {
      status: 'RUNNING',
      lease_epoch: 1,
      locked_by: workerId,
      locked_until: toDbTimestamp(new Date(nowMs + leaseMs)),
      worker_id: workerId,
      assigned_at: now,
      started_at: now,
      heartbeat_at: now,
    } as const;
  }
}

const open = new WeakMap<object, EagerTransaction>();

/** The eager claim open in transaction `db`, if its caller asked for one and it has room. */
export function eagerClaimIn(db: object): EagerTransaction | undefined {
  const tx = open.get(db);
  return tx !== undefined && tx.room > 0 ? tx : undefined;
}
