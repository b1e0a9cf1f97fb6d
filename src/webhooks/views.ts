import {
  fromDbBool,
  type WebhookDeliveriesTable,
  type WebhookDeliveryAttemptsTable,
  type WebhooksTable,
} from '../storage/index.js';
import type { Selectable } from 'kysely';
import { storedEventTypes } from './event-types.js';

export type WebhookRow = Selectable<WebhooksTable>;
export type DeliveryRow = Selectable<WebhookDeliveriesTable>;
export type AttemptRow = Selectable<WebhookDeliveryAttemptsTable>;

export const DELIVERY_STATUSES = ['pending', 'delivering', 'succeeded', 'failed'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** A webhook as its owner sees it: never its secret. */
export interface WebhookView {
  readonly id: string;
  readonly name: string;
  readonly url: string;
  readonly description: string | null;
  readonly eventTypes: string[];
  readonly active: boolean;
  /** Deliveries given up as failed since the last successful one. */
  readonly failureCount: number;
  readonly lastDeliveryAt: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface DeliveryView {
  readonly id: string;
  readonly webhookId: string;
  readonly eventId: string;
  readonly eventType: string;
  readonly status: DeliveryStatus;
  /** Attempts in the current round (a redelivery starts a new round). */
  readonly attemptCount: number;
  readonly nextAttemptAt: string | null;
  readonly lastStatusCode: number | null;
  readonly lastLatencyMs: number | null;
  readonly lastError: string | null;
  readonly deliveredAt: string | null;
  readonly createdAt: string;
}

export interface AttemptView {
  readonly attempt: number;
  readonly statusCode: number | null;
  readonly latencyMs: number;
  readonly error: string | null;
  readonly createdAt: string;
}

/** One delivery with the body it sends and every attempt so far. */
export interface DeliveryDetail extends DeliveryView {
  readonly payload: unknown;
  readonly attempts: AttemptView[];
}

export function webhookView(row: WebhookRow): WebhookView {
  return {
    id: row.id,
    name: row.name,
    url: row.url,
    description: row.description,
    eventTypes: storedEventTypes(row.event_types),
    active: fromDbBool(row.active),
    failureCount: Number(row.failure_count),
    lastDeliveryAt: row.last_delivery_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function deliveryView(row: DeliveryRow): DeliveryView {
  return {
    id: row.id,
    webhookId: row.webhook_id,
    eventId: row.event_id,
    eventType: row.event_type,
    status: row.status,
    attemptCount: Number(row.attempt_count),
    nextAttemptAt: row.next_attempt_at,
    lastStatusCode: row.last_status_code,
    lastLatencyMs: row.last_latency_ms,
    lastError: row.last_error,
    deliveredAt: row.delivered_at,
    createdAt: row.created_at,
  };
}

export function attemptView(row: AttemptRow): AttemptView {
  return {
    attempt: Number(row.attempt),
    statusCode: row.status_code,
    latencyMs: Number(row.latency_ms),
    error: row.error,
    createdAt: row.created_at,
  };
}
