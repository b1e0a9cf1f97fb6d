import type { Logger } from 'pino';
import { loadJson } from '../blobs/index.js';
import { SwarmError } from '../errors/index.js';
import { openText, type Keyring } from '../secrets/index.js';
import { newId as newAttemptId, toDbBool, toDbTimestamp, type Store } from '../storage/index.js';
import { DEFAULT_BACKOFF, parseRetryAfter, retryDelayMs, type BackoffOptions } from './backoff.js';
import { WEBHOOK_DELIVERIES_CHANNEL, type DeliveryBody } from './deliveries.js';
import { sendSigned, type AttemptResult } from './send.js';
import { instruments } from '../metrics/index.js';

export interface DeliveryWorkerOptions {
  readonly store: Store;
  /** Opens the webhooks' signing secrets. */
  readonly keyring: Pick<Keyring, 'key'>;
  readonly logger: Logger;
  /** Lets deliveries reach loopback, private and link-local addresses (development, tests). */
  readonly allowPrivateNetworks: boolean;
  /** Hosts exempt from the address check. */
  readonly allowedHosts?: readonly string[];
  /** How often an idle worker looks for due deliveries. @default 1000 */
  readonly pollMs?: number;
  /** One attempt, connecting to the end of the response head. @default 15000 */
  readonly timeoutMs?: number;
  /**
   * Attempts before a delivery is given up as failed: with the default back-off, 16 attempts
   * span about five hours, long enough to ride out an endpoint's deploy or outage. @default 16
   */
  readonly maxAttempts?: number;
  /** The retry schedule. @default 1 s doubling, capped at 1 h */
  readonly backoff?: Partial<BackoffOptions>;
  /** Deliveries claimed and sent at once. @default 10 */
  readonly batchSize?: number;
}

/** A claimed delivery keeps its lease this much longer than an attempt may take. */
const LEASE_MARGIN_MS = 30_000;
/** How often expired leases are looked for. */
const SWEEP_EVERY_MS = 30_000;

interface Claimed {
  readonly id: string;
  readonly owner_id: string;
  readonly webhook_id: string;
  readonly payload: string;
  readonly attempt_count: number;
  /** The lease: the delivery's `next_attempt_at` while this worker holds it. */
  readonly lease: string;
}

/**
 * Sends due webhook deliveries, from any number of processes. A claim moves a delivery to
 * `delivering` with `next_attempt_at` as its lease (the attempt's timeout and a margin), under
 * FOR UPDATE SKIP LOCKED where the dialect has it; a sender that dies leaves the lease to
 * expire, a sweep (every 30 s) makes the delivery pending again, and it is claimed again. Results are written only while the lease is still
 * the one claimed, so a late sender cannot overwrite a newer attempt or a redelivery.
 */
export class DeliveryWorker {
  private readonly pollMs: number;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly backoff: BackoffOptions;
  private readonly batchSize: number;
  private running = false;
  private lastSweep = Number.NEGATIVE_INFINITY;
  private woken = false;
  private wake: (() => void) | null = null;
  private loop: Promise<void> = Promise.resolve();
  private unlisten: Promise<(() => Promise<void>) | null> = Promise.resolve(null);

  constructor(private readonly options: DeliveryWorkerOptions) {
    this.pollMs = options.pollMs ?? 1000;
    this.timeoutMs = options.timeoutMs ?? 15_000;
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 16);
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.batchSize = Math.max(1, options.batchSize ?? 10);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.pollLoop();
    // New deliveries in other processes wake this one at once on PostgreSQL; polling stays the fallback.
    this.unlisten = this.options.store.handle
      .listen(WEBHOOK_DELIVERIES_CHANNEL, () => this.notify())
      .catch((error: unknown) => {
        this.options.logger.warn({ err: error }, 'webhook deliveries: LISTEN failed; polling');
        return null;
      });
  }

  /** Resolves once this worker listens for new-delivery notifications (or knows it cannot). */
  async listening(): Promise<void> {
    await this.unlisten;
  }

  /** Deliveries may be due: look now rather than at the next poll. */
  notify(): void {
    this.woken = true;
    this.wake?.();
  }

  /** Stops looking for deliveries; attempts in flight finish first (each is bounded by the timeout). */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.notify();
    await (
      await this.unlisten
    )?.();
    await this.loop;
  }

  /** Claims what is due at `now` (one batch), sends it, records each attempt; returns how many attempts were made. */
  async runOnce(now: Date = new Date()): Promise<number> {
    if (now.getTime() - this.lastSweep >= SWEEP_EVERY_MS) {
      await this.reclaimExpired(now);
      this.lastSweep = now.getTime();
    }
    const claimed = await this.claim(now);
    await Promise.all(claimed.map((delivery) => this.attempt(delivery, now)));
    return claimed.length;
  }

  private async pollLoop(): Promise<void> {
    while (this.running) {
      let attempts = 0;
      try {
        attempts = await this.runOnce();
      } catch (error) {
        this.options.logger.error({ err: error }, 'webhook deliveries: claiming or recording failed');
      }
      // A full batch suggests more are due: go again without sleeping.
      if (attempts < this.batchSize && !this.woken) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.pollMs);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = null;
      }
      this.woken = false;
    }
  }

  /**
   * Deliveries whose sender died mid-attempt (`delivering` past its lease) are pending again.
   * This scan has no index of its own (the due index covers `pending` only), so it runs every
   * SWEEP_EVERY_MS rather than with every claim.
   */
  private async reclaimExpired(now: Date): Promise<void> {
    const result = await this.options.store.handle.db
      .updateTable('webhook_deliveries')
      .set({ status: 'pending' })
      .where('status', '=', 'delivering')
      .where('next_attempt_at', '<=', toDbTimestamp(now))
      .executeTakeFirst();
    const reclaimed = Number(result.numUpdatedRows);
    if (reclaimed > 0)
      this.options.logger.warn(
        { reclaimed },
        'webhook deliveries: took back deliveries whose sender stopped',
      );
  }

  private async claim(now: Date): Promise<Claimed[]> {
    const { db, dialect } = this.options.store.handle;
    const due = toDbTimestamp(now);
    const lease = toDbTimestamp(new Date(now.getTime() + this.timeoutMs + LEASE_MARGIN_MS));
    return dialect.writeTransaction(db, async (trx) => {
      const select = trx
        .selectFrom('webhook_deliveries')
        .select('id')
        .where('status', '=', 'pending')
        .where('next_attempt_at', '<=', due)
        // A disabled webhook's deliveries wait for it to be enabled again.
        .where((eb) =>
          eb.exists(
            eb
              .selectFrom('webhooks')
              .select('webhooks.id')
              .whereRef('webhooks.id', '=', 'webhook_deliveries.webhook_id')
              .where('webhooks.active', '=', toDbBool(true)),
          ),
        )
        .orderBy('next_attempt_at')
        .orderBy('id')
        .limit(this.batchSize);
      const ids = (
        await (dialect.capabilities.skipLocked ? select.forUpdate().skipLocked() : select).execute()
      ).map((row) => row.id);
      if (ids.length === 0) return [];
      const rows = await trx
        .updateTable('webhook_deliveries')
        .set({ status: 'delivering', next_attempt_at: lease })
        .where('id', 'in', ids)
        .returning(['id', 'owner_id', 'webhook_id', 'payload', 'attempt_count'])
        .execute();
      return rows.map((row) => ({ ...row, lease }));
    });
  }

  private async attempt(delivery: Claimed, now: Date): Promise<void> {
    let result: AttemptResult;
    let recorded: boolean;
    try {
      result = await this.send(delivery, now);
      recorded = await this.record(delivery, result, new Date(now.getTime() + result.latencyMs));
    } catch (error) {
      // A database error: the lease runs out and the delivery is sent again — at least once, never lost.
      this.options.logger.error(
        { err: error, deliveryId: delivery.id },
        'webhook delivery: reading the webhook or recording the attempt failed',
      );
      return;
    }
    const log = {
      deliveryId: delivery.id,
      webhookId: delivery.webhook_id,
      statusCode: result.statusCode,
      latencyMs: result.latencyMs,
    };
    // Metrics (src/metrics): recorded attempts, by outcome.
    if (recorded)
      instruments.webhookDeliveries.inc({ status: result.error === null ? 'succeeded' : 'failed' });
    if (!recorded)
      this.options.logger.warn(
        log,
        'webhook delivery: the lease was lost (redelivered or reclaimed); result dropped',
      );
    else if (result.error !== null)
      this.options.logger.warn({ ...log, error: result.error }, 'webhook delivery attempt failed');
    else this.options.logger.debug(log, 'webhook delivered');
  }

  private async send(delivery: Claimed, now: Date): Promise<AttemptResult> {
    const webhook = await this.options.store.handle.db
      .selectFrom('webhooks')
      .select(['id', 'owner_id', 'name', 'url', 'secret'])
      .where('id', '=', delivery.webhook_id)
      .executeTakeFirst();
    if (webhook === undefined)
      return {
        statusCode: null,
        latencyMs: 0,
        error: 'the webhook was deleted',
        permanent: true,
        retryAfter: undefined,
      };
    let secret: string;
    try {
      secret = openText(
        this.options.keyring,
        webhook.secret,
        { id: webhook.id, ownerId: webhook.owner_id },
        `signing secret of webhook ${webhook.name}`,
      );
    } catch (error) {
      // A missing master key may be configured yet: retried like any failure.
      return {
        statusCode: null,
        latencyMs: 0,
        error: (error as Error).message,
        permanent: false,
        retryAfter: undefined,
      };
    }
    let stored: DeliveryBody;
    try {
      stored = (await loadJson<DeliveryBody>(this.options.store.handle.db, delivery.payload))!;
    } catch (error) {
      // A body whose blob is gone or damaged cannot be sent, however often it is tried.
      if (!(error instanceof SwarmError) || error.code !== 'BLOB_MISSING') throw error;
      return { statusCode: null, latencyMs: 0, error: error.message, permanent: true, retryAfter: undefined };
    }
    // Rebuilt in a fixed key order: PostgreSQL's jsonb gives keys back in an order of its own.
    const body = JSON.stringify({ type: stored.type, timestamp: stored.timestamp, data: stored.data });
    return sendSigned(
      { deliveryId: delivery.id, url: webhook.url, secret, body, now },
      {
        allowPrivateNetworks: this.options.allowPrivateNetworks,
        ...(this.options.allowedHosts === undefined ? {} : { allowedHosts: [...this.options.allowedHosts] }),
        timeoutMs: this.timeoutMs,
        maxResponseBytes: 4096,
      },
    );
  }

  /** Writes the attempt and its outcome, if this worker still holds the lease; false if not. */
  private async record(delivery: Claimed, result: AttemptResult, at: Date): Promise<boolean> {
    const { db, dialect } = this.options.store.handle;
    const attemptCount = delivery.attempt_count + 1;
    const succeeded = result.error === null;
    // 410 Gone: the receiver asks not to be sent anything more (Standard Webhooks).
    const gone = result.statusCode === 410;
    const failed = !succeeded && (result.permanent || gone || attemptCount >= this.maxAttempts);
    const nowTs = toDbTimestamp(at);
    const next =
      succeeded || failed
        ? null
        : toDbTimestamp(new Date(at.getTime() + this.delayMs(attemptCount, result, at)));
    return dialect.writeTransaction(db, async (trx) => {
      const updated = await trx
        .updateTable('webhook_deliveries')
        .set({
          status: succeeded ? 'succeeded' : failed ? 'failed' : 'pending',
          attempt_count: attemptCount,
          next_attempt_at: next,
          last_status_code: result.statusCode,
          last_latency_ms: result.latencyMs,
          last_error: result.error,
          ...(succeeded ? { delivered_at: nowTs } : {}),
        })
        .where('id', '=', delivery.id)
        .where('status', '=', 'delivering')
        .where('next_attempt_at', '=', delivery.lease)
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) === 0) return false;
      // Numbered over the delivery's whole history: a redelivery starts a new round, not new numbers.
      const last = await trx
        .selectFrom('webhook_delivery_attempts')
        .select((eb) => eb.fn.max<number | string | null>('attempt').as('attempt'))
        .where('delivery_id', '=', delivery.id)
        .executeTakeFirst();
      await trx
        .insertInto('webhook_delivery_attempts')
        .values({
          id: newAttemptId(),
          owner_id: delivery.owner_id,
          delivery_id: delivery.id,
          attempt: Number(last?.attempt ?? 0) + 1,
          status_code: result.statusCode,
          latency_ms: result.latencyMs,
          error: result.error,
          created_at: nowTs,
        })
        .execute();
      if (succeeded || failed)
        await trx
          .updateTable('webhooks')
          .set((eb) =>
            succeeded
              ? { last_delivery_at: nowTs, failure_count: 0 }
              : { failure_count: eb('failure_count', '+', 1), ...(gone ? { active: toDbBool(false) } : {}) },
          )
          .where('id', '=', delivery.webhook_id)
          .execute();
      return true;
    });
  }

  private delayMs(attemptCount: number, result: AttemptResult, at: Date): number {
    return retryDelayMs(attemptCount, this.backoff, parseRetryAfter(result.retryAfter, at));
  }
}
