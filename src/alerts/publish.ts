import { insertEvents } from '../blobs/index.js';
import type { Kysely } from 'kysely';
import {
  AUTO_RESOLVED_BY,
  raiseAlert,
  resolveOpenAlerts,
  SYSTEM_EVENT_SOURCE,
  type Alert,
  type DialectAdapter,
  type NewAlert,
  type NewEvent,
  type RaiseOutcome,
  type SwarmDatabase,
} from '../storage/index.js';

/** Who resolved an alert whose cause cleared. */
export const AUTO_RESOLVER = AUTO_RESOLVED_BY;

/**
 * The system event of an alert (`alert.raised` when it opens, `alert.resolved` when it closes),
 * for outgoing webhooks and event triggers: enough to page someone, nothing secret. An alert
 * about a run is caused by that run, so an alert-triggered workflow that fails in turn sits one
 * deeper in the causation chain and the event-depth cap ends such loops.
 */
export function alertEvent(alert: Alert, kind: 'raised' | 'resolved'): NewEvent {
  return {
    ownerId: alert.ownerId,
    source: SYSTEM_EVENT_SOURCE,
    type: `alert.${kind}`,
    runId: alert.relatedRunId,
    payload: {
      alert_id: alert.id,
      type: alert.type,
      severity: alert.severity,
      title: alert.title,
      cause: alert.cause,
      count: alert.count,
      related_agent_id: alert.relatedAgentId,
      related_task_id: alert.relatedTaskId,
      related_run_id: alert.relatedRunId,
      ...(kind === 'resolved' ? { resolved_by: alert.resolvedBy } : {}),
    },
  };
}

/** Raises an alert in the caller's transaction; publishes `alert.raised` when it opened one. */
export async function raise(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  alert: NewAlert,
  now: Date = new Date(),
): Promise<RaiseOutcome> {
  const outcome = await raiseAlert(trx, alert, now);
  if (outcome?.opened) await insertEvents(trx, dialect, [alertEvent(outcome.alert, 'raised')]);
  return outcome;
}

/** Resolves an owner's open alerts with these causes as `auto`, publishing `alert.resolved` for each. */
export async function resolveCauses(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  ownerId: string,
  causes: readonly string[],
  now: Date = new Date(),
): Promise<Alert[]> {
  const resolved = await resolveOpenAlerts(trx, ownerId, { causes }, AUTO_RESOLVER, now);
  await insertEvents(
    trx,
    dialect,
    resolved.map((a) => alertEvent(a, 'resolved')),
  );
  return resolved;
}
