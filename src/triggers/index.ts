/**
 * Triggers: workflows that start on their own — webhooks, schedules and events — each firing
 * exactly once (see fire.ts), and their management. See docs/triggers.md.
 */
export {
  syncTriggers,
  syncAllTriggers,
  assertPathFree,
  newWebhookSecret,
  type SyncedTrigger,
} from './sync.js';
export {
  TriggerService,
  webhookSecrets,
  findWebhookTrigger,
  DEFAULT_ROTATION_GRACE_SECONDS,
} from './service.js';
export { prepareFiring, recordFiring, again, ownerOf, firingError, type FiringOutcome } from './fire.js';
export { planTicks } from './schedule.js';
export { fireDebounced, planFlow, type FlowPlan } from './flow.js';
export {
  viewOfTrigger,
  type FiringStats,
  type TriggerView,
  type TriggerRow,
  type FiringView,
} from './types.js';
export {
  verifySignature,
  signPayload,
  receiveWebhook,
  parseWebhookBody,
  deliveryKey,
  SIGNATURE_HEADER,
  DEFAULT_SIGNATURE_TOLERANCE_SECONDS,
  DELIVERY_ID_HEADERS,
  MAX_DELIVERY_ID_LENGTH,
  type SignatureCheck,
  type SignatureFailure,
  type WebhookDeps,
  type WebhookRequest,
  type WebhookReceipt,
} from './webhook.js';
export {
  EventDispatcher,
  MAX_DISPATCH_ATTEMPTS,
  DEFAULT_MAX_EVENT_DEPTH,
  type DispatcherOptions,
  type DispatchedEvent,
  type EventSubscriber,
  type DispatchReport,
} from './dispatch.js';
export { Scheduler, type SchedulerOptions } from './scheduler.js';
export { TriggerDaemon, type TriggerDaemonOptions } from './daemon.js';
export { pruneTriggerRecords, type Retention } from './prune.js';
