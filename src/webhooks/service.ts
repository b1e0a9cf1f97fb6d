import type { Kysely } from 'kysely';
import { viewJson } from '../blobs/index.js';
import { InputError, NotFoundError } from '../errors/index.js';
import { sealText, type Keyring } from '../secrets/index.js';
import {
  auditedWrite,
  newId,
  nowTimestamp,
  toDbBool,
  toDbJson,
  type AuditEntry,
  type Caller,
  type Store,
  type SwarmDatabase,
} from '../storage/index.js';
import { checkEventTypes } from './event-types.js';
import { WEBHOOK_DELIVERIES_CHANNEL, deliveryBody } from './deliveries.js';
import { storeDeliveryBody } from './payload.js';
import { generateSecret, secretKey } from './signature.js';
import {
  attemptView,
  deliveryView,
  DELIVERY_STATUSES,
  webhookView,
  type DeliveryDetail,
  type DeliveryStatus,
  type DeliveryView,
  type WebhookView,
} from './views.js';

export interface CreateWebhookInput {
  readonly name: string;
  readonly url: string;
  readonly eventTypes: readonly string[];
  readonly description?: string | null;
  /** A `whsec_` secret of the caller's; one is generated when absent. */
  readonly secret?: string;
}

export interface UpdateWebhookInput {
  readonly name?: string;
  readonly url?: string;
  readonly eventTypes?: readonly string[];
  readonly description?: string | null;
  readonly active?: boolean;
}

export const MAX_NAME_LENGTH = 200;
export const MAX_URL_LENGTH = 2048;
export const MAX_DESCRIPTION_LENGTH = 1000;
export const MAX_DELIVERIES_LIMIT = 500;

/**
 * A user's outgoing webhooks: subscriptions, their deliveries and attempts, and redelivery.
 * Every query is scoped to the caller's own rows; another user's ids are simply not found.
 * The signing secret is sealed with the keyring, bound to the webhook's row, and returned once.
 */
export class WebhookService {
  constructor(
    private readonly store: Store,
    private readonly keyring: Pick<Keyring, 'current' | 'key'>,
  ) {}

  private get db() {
    return this.store.handle.db;
  }

  /** One change and its audit row, in one transaction; `change` must query `trx` only. */
  private audited<T>(
    caller: Caller,
    change: (trx: Kysely<SwarmDatabase>) => Promise<T>,
    entry: (result: T) => Omit<AuditEntry, 'caller'>,
  ): Promise<T> {
    return auditedWrite(this.db, this.store.handle.dialect, change, (result) => ({
      ...entry(result),
      caller,
    }));
  }

  async create(caller: Caller, input: CreateWebhookInput): Promise<{ webhook: WebhookView; secret: string }> {
    const name = checkName(input.name);
    const url = checkUrl(input.url);
    const eventTypes = checkEventTypes(input.eventTypes);
    const description = checkDescription(input.description);
    const secret = input.secret === undefined ? generateSecret() : input.secret;
    secretKey(secret, 'secret');
    const id = newId();
    const now = nowTimestamp();
    const row = await this.audited(
      caller,
      (trx) =>
        trx
          .insertInto('webhooks')
          .values({
            id,
            owner_id: caller.userId,
            name,
            url,
            secret: sealText(this.keyring, secret, { id, ownerId: caller.userId }),
            event_types: toDbJson(eventTypes),
            active: toDbBool(true),
            description,
            created_at: now,
            updated_at: now,
          })
          .returningAll()
          .executeTakeFirstOrThrow(),
      (r) => ({
        action: 'webhook.create',
        resourceType: 'webhook',
        resourceId: r.id,
        metadata: { name: r.name, url: r.url, eventTypes, secretGiven: input.secret !== undefined },
      }),
    );
    return { webhook: webhookView(row), secret };
  }

  async list(caller: Caller): Promise<WebhookView[]> {
    const rows = await this.db
      .selectFrom('webhooks')
      .selectAll()
      .where('owner_id', '=', caller.userId)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(webhookView);
  }

  async get(caller: Caller, id: string): Promise<WebhookView> {
    return webhookView(await this.row(caller, id));
  }

  async update(caller: Caller, id: string, input: UpdateWebhookInput): Promise<WebhookView> {
    await this.row(caller, id);
    const changes = {
      ...(input.name === undefined ? {} : { name: checkName(input.name) }),
      ...(input.url === undefined ? {} : { url: checkUrl(input.url) }),
      ...(input.eventTypes === undefined ? {} : { event_types: toDbJson(checkEventTypes(input.eventTypes)) }),
      ...(input.description === undefined ? {} : { description: checkDescription(input.description) }),
      ...(input.active === undefined ? {} : { active: toDbBool(input.active) }),
      // Enabling a webhook again is a fresh start for its failure count.
      ...(input.active === true ? { failure_count: 0 } : {}),
    };
    const row = await this.audited(
      caller,
      async (trx) => {
        const updated = await trx
          .updateTable('webhooks')
          .set({ ...changes, updated_at: nowTimestamp() })
          .where('id', '=', id)
          .where('owner_id', '=', caller.userId)
          .returningAll()
          .executeTakeFirst();
        if (updated === undefined) throw new NotFoundError('webhook', id);
        return updated;
      },
      () => ({
        action: 'webhook.update',
        resourceType: 'webhook',
        resourceId: id,
        metadata: {
          fields: Object.keys(input),
          ...(input.active === undefined ? {} : { active: input.active }),
        },
      }),
    );
    // Deliveries that waited while it was disabled are due now.
    if (input.active === true)
      await this.store.handle.dialect.notify(this.db as Kysely<unknown>, WEBHOOK_DELIVERIES_CHANNEL);
    return webhookView(row);
  }

  /** Deletes the webhook with its deliveries and their attempts. */
  async delete(caller: Caller, id: string): Promise<WebhookView> {
    const row = await this.audited(
      caller,
      async (trx) => {
        const deleted = await trx
          .deleteFrom('webhooks')
          .where('id', '=', id)
          .where('owner_id', '=', caller.userId)
          .returningAll()
          .executeTakeFirst();
        if (deleted === undefined) throw new NotFoundError('webhook', id);
        return deleted;
      },
      (r) => ({
        action: 'webhook.delete',
        resourceType: 'webhook',
        resourceId: id,
        metadata: { name: r.name },
      }),
    );
    return webhookView(row);
  }

  /** A new signing secret, returned this once; deliveries sent from now on are signed with it. */
  async rotateSecret(
    caller: Caller,
    id: string,
    secret?: string,
  ): Promise<{ webhook: WebhookView; secret: string }> {
    await this.row(caller, id);
    const next = secret ?? generateSecret();
    secretKey(next, 'secret');
    const row = await this.audited(
      caller,
      async (trx) => {
        const rotated = await trx
          .updateTable('webhooks')
          .set({
            secret: sealText(this.keyring, next, { id, ownerId: caller.userId }),
            updated_at: nowTimestamp(),
          })
          .where('id', '=', id)
          .where('owner_id', '=', caller.userId)
          .returningAll()
          .executeTakeFirst();
        if (rotated === undefined) throw new NotFoundError('webhook', id);
        return rotated;
      },
      () => ({ action: 'webhook.rotate_secret', resourceType: 'webhook', resourceId: id }),
    );
    return { webhook: webhookView(row), secret: next };
  }

  /** The webhook's deliveries, newest first. */
  async deliveries(
    caller: Caller,
    webhookId: string,
    options: { status?: string; limit?: number } = {},
  ): Promise<DeliveryView[]> {
    await this.row(caller, webhookId);
    const status = options.status;
    if (status !== undefined && !(DELIVERY_STATUSES as readonly string[]).includes(status))
      throw new InputError('status', `must be one of ${DELIVERY_STATUSES.join(', ')}`);
    const limit = options.limit ?? 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_DELIVERIES_LIMIT)
      throw new InputError('limit', `must be an integer from 1 to ${MAX_DELIVERIES_LIMIT}`);
    const rows = await this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('owner_id', '=', caller.userId)
      .where('webhook_id', '=', webhookId)
      .$if(status !== undefined, (q) => q.where('status', '=', status as DeliveryStatus))
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
    return rows.map(deliveryView);
  }

  /**
   * One delivery with its body (whole up to VIEW_WHOLE_MAX, above it the blob's reference and
   * url) and every attempt, oldest first.
   */
  async delivery(caller: Caller, id: string): Promise<DeliveryDetail> {
    const row = await this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('id', '=', id)
      .where('owner_id', '=', caller.userId)
      .executeTakeFirst();
    if (row === undefined) throw new NotFoundError('webhook delivery', id);
    const attempts = await this.db
      .selectFrom('webhook_delivery_attempts')
      .selectAll()
      .where('delivery_id', '=', id)
      .where('owner_id', '=', caller.userId)
      .orderBy('attempt')
      .execute();
    return {
      ...deliveryView(row),
      payload: await viewJson(this.db, row.payload),
      attempts: attempts.map(attemptView),
    };
  }

  /**
   * Sends a delivery again, whatever its status: it becomes pending, due now, with a fresh
   * round of attempts (the attempts so far stay, and numbering goes on from them). A delivery
   * being sent right now is taken from its sender, whose result is then dropped.
   */
  async redeliver(caller: Caller, id: string): Promise<DeliveryView> {
    const row = await this.audited(
      caller,
      async (trx) => {
        const pending = await trx
          .updateTable('webhook_deliveries')
          .set({ status: 'pending', next_attempt_at: nowTimestamp(), attempt_count: 0, delivered_at: null })
          .where('id', '=', id)
          .where('owner_id', '=', caller.userId)
          .returningAll()
          .executeTakeFirst();
        if (pending === undefined) throw new NotFoundError('webhook delivery', id);
        return pending;
      },
      (r) => ({
        action: 'webhook.redeliver',
        resourceType: 'webhook',
        resourceId: r.webhook_id,
        metadata: { deliveryId: id },
      }),
    );
    await this.store.handle.dialect.notify(this.db as Kysely<unknown>, WEBHOOK_DELIVERIES_CHANNEL);
    return deliveryView(row);
  }

  /** Queues a `webhook.test` delivery to this webhook alone, whatever it subscribes to. */
  async test(caller: Caller, webhookId: string): Promise<DeliveryView> {
    const webhook = await this.row(caller, webhookId);
    const now = nowTimestamp();
    const eventId = newId();
    const body = deliveryBody({
      id: eventId,
      ownerId: caller.userId,
      source: 'swarm',
      type: 'webhook.test',
      payload: { webhook_id: webhook.id, name: webhook.name },
      createdAt: now,
    });
    const deliveryId = newId();
    const row = await this.audited(
      caller,
      async (trx) =>
        trx
          .insertInto('webhook_deliveries')
          .values({
            id: deliveryId,
            owner_id: caller.userId,
            webhook_id: webhook.id,
            event_id: eventId,
            event_type: 'webhook.test',
            payload: await storeDeliveryBody(
              { db: trx, dialect: this.store.handle.dialect },
              body,
              caller.userId,
              [deliveryId],
            ),
            status: 'pending',
            next_attempt_at: now,
            created_at: now,
          })
          .returningAll()
          .executeTakeFirstOrThrow(),
      (r) => ({
        action: 'webhook.test',
        resourceType: 'webhook',
        resourceId: webhook.id,
        metadata: { deliveryId: r.id },
      }),
    );
    await this.store.handle.dialect.notify(this.db as Kysely<unknown>, WEBHOOK_DELIVERIES_CHANNEL);
    return deliveryView(row);
  }

  private async row(caller: Caller, id: string) {
    const row = await this.db
      .selectFrom('webhooks')
      .selectAll()
      .where('id', '=', id)
      .where('owner_id', '=', caller.userId)
      .executeTakeFirst();
    if (row === undefined) throw new NotFoundError('webhook', id);
    return row;
  }
}

function checkName(value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '')
    throw new InputError('name', 'must be a non-empty string');
  if (value.length > MAX_NAME_LENGTH) throw new InputError('name', `at most ${MAX_NAME_LENGTH} characters`);
  return value.trim();
}

function checkUrl(value: unknown): string {
  if (typeof value !== 'string' || value === '') throw new InputError('url', 'must be an http or https URL');
  if (value.length > MAX_URL_LENGTH) throw new InputError('url', `at most ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InputError('url', 'not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new InputError('url', `must be an http or https URL, not ${url.protocol.slice(0, -1)}:`);
  return value;
}

function checkDescription(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw new InputError('description', 'must be a string');
  if (value.length > MAX_DESCRIPTION_LENGTH)
    throw new InputError('description', `at most ${MAX_DESCRIPTION_LENGTH} characters`);
  return value;
}
