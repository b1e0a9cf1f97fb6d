import type { Kysely } from 'kysely';
import {
  newId,
  nowTimestamp,
  toDbBool,
  toDbTimestamp,
  type DialectAdapter,
  type SwarmDatabase,
} from '../storage/index.js';
import { matchesEventType, storedEventTypes } from './event-types.js';
import { storeDeliveryBody } from './payload.js';

/** The channel new deliveries notify, so idle delivery workers send at once instead of at their next poll. */
export const WEBHOOK_DELIVERIES_CHANNEL = 'swarm_webhook_deliveries';

/** An event as the dispatcher hands it over. */
export interface DeliverableEvent {
  readonly id: string;
  readonly ownerId: string;
  readonly source: string;
  readonly type: string;
  readonly payload: unknown;
  /** When the event happened (ISO-8601): the body's `timestamp`, the same on every retry. */
  readonly createdAt: string;
}

/** The body every delivery sends: Standard Webhooks' `{type, timestamp, data}`. */
export interface DeliveryBody {
  readonly type: string;
  readonly timestamp: string;
  readonly data: Record<string, unknown>;
}

/**
 * The body of an event: `data` is the event's payload (an object's keys as they are, any other
 * payload under `value`) plus `source` and `event_id`, which take precedence over payload keys
 * of the same name so a receiver can always rely on them.
 */
export function deliveryBody(event: DeliverableEvent): DeliveryBody {
  const payload = event.payload;
  const data =
    payload !== null && typeof payload === 'object' && !Array.isArray(payload)
      ? { ...(payload as Record<string, unknown>) }
      : payload === undefined
        ? {}
        : { value: payload };
  return {
    type: event.type,
    timestamp: toDbTimestamp(event.createdAt, 'createdAt'),
    data: { ...data, source: event.source, event_id: event.id },
  };
}

/**
 * Queues one pending delivery of `event` for each active webhook of its owner that subscribes to
 * its type, in the dispatcher's transaction (so the event is handed on exactly when it is
 * marked dispatched), and wakes the delivery workers. A webhook that already has a delivery of
 * this event gets no second one, so handing the same event over twice is harmless.
 * Returns how many deliveries were queued.
 */
export async function createDeliveries(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  event: DeliverableEvent,
): Promise<number> {
  const webhooks = await trx
    .selectFrom('webhooks')
    .select(['id', 'event_types'])
    .where('owner_id', '=', event.ownerId)
    .where('active', '=', toDbBool(true))
    .where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom('webhook_deliveries')
            .select('webhook_deliveries.id')
            .whereRef('webhook_deliveries.webhook_id', '=', 'webhooks.id')
            .where('webhook_deliveries.event_id', '=', event.id),
        ),
      ),
    )
    .orderBy('id')
    .execute();
  const subscribed = webhooks.filter((w) => matchesEventType(storedEventTypes(w.event_types), event.type));
  if (subscribed.length === 0) return 0;
  const ids = subscribed.map(() => newId()) as [string, ...string[]];
  const payload = await storeDeliveryBody({ db: trx, dialect }, deliveryBody(event), event.ownerId, ids);
  const now = nowTimestamp();
  await trx
    .insertInto('webhook_deliveries')
    .values(
      subscribed.map((webhook, i) => ({
        id: ids[i]!,
        owner_id: event.ownerId,
        webhook_id: webhook.id,
        event_id: event.id,
        event_type: event.type,
        payload,
        status: 'pending' as const,
        next_attempt_at: now,
      })),
    )
    .execute();
  await dialect.notify(trx as Kysely<unknown>, WEBHOOK_DELIVERIES_CHANNEL);
  return subscribed.length;
}

/**
 * Which of `events` some active webhook of their owner subscribes to: the dispatcher gives only
 * those a transaction of their own and marks the rest dispatched together (most events — every
 * run's end — have no subscriber).
 */
export async function subscribedEventIds(
  db: Kysely<SwarmDatabase>,
  events: readonly Pick<DeliverableEvent, 'id' | 'ownerId' | 'type'>[],
): Promise<Set<string>> {
  const owners = [...new Set(events.map((e) => e.ownerId))];
  if (owners.length === 0) return new Set();
  const webhooks = await db
    .selectFrom('webhooks')
    .select(['owner_id', 'event_types'])
    .where('owner_id', 'in', owners)
    .where('active', '=', toDbBool(true))
    .execute();
  const wanted = new Set<string>();
  for (const event of events) {
    const mine = webhooks.filter((w) => w.owner_id === event.ownerId);
    if (mine.some((w) => matchesEventType(storedEventTypes(w.event_types), event.type))) wanted.add(event.id);
  }
  return wanted;
}
