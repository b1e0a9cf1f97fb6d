/**
 * Outgoing webhooks: a user subscribes a URL to event types; each matching event becomes a
 * delivery, signed the Standard Webhooks way and retried with back-off by the DeliveryWorker.
 * See docs/webhooks.md.
 */
export {
  createDeliveries,
  subscribedEventIds,
  deliveryBody,
  WEBHOOK_DELIVERIES_CHANNEL,
  type DeliverableEvent,
  type DeliveryBody,
} from './deliveries.js';
export { DeliveryWorker, type DeliveryWorkerOptions } from './worker.js';
export {
  WebhookService,
  MAX_DELIVERIES_LIMIT,
  MAX_DESCRIPTION_LENGTH,
  MAX_NAME_LENGTH,
  MAX_URL_LENGTH,
  type CreateWebhookInput,
  type UpdateWebhookInput,
} from './service.js';
export { EVENT_TYPE_PATTERN, matchesEventType, checkEventTypes } from './event-types.js';
export { generateSecret, signatureHeader, SECRET_PREFIX } from './signature.js';
export { retryDelayMs, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
export {
  DELIVERY_STATUSES,
  type AttemptView,
  type DeliveryDetail,
  type DeliveryStatus,
  type DeliveryView,
  type WebhookView,
} from './views.js';
