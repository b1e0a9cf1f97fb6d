import type { Selectable } from 'kysely';
import type { TriggersTable } from '../storage/index.js';

export type TriggerRow = Selectable<TriggersTable>;

/** A trigger as the API and CLI show it; never with its secret. */
export interface TriggerView {
  readonly id: string;
  readonly workflow: string;
  readonly type: 'webhook' | 'schedule' | 'event';
  readonly enabled: boolean;
  /** Webhook: the path under /hooks/. */
  readonly path: string | null;
  /** Webhook: when a rotated-out secret stops being accepted. */
  readonly previousSecretValidUntil: string | null;
  readonly cron: string | null;
  readonly timezone: string | null;
  readonly misfire: 'skip' | 'catch_up' | null;
  readonly catchUpLimit: number | null;
  readonly nextRunAt: string | null;
  readonly lastRunAt: string | null;
  readonly eventSource: string | null;
  readonly eventType: string | null;
  readonly fireCount: number;
  readonly createdAt: string;
}

/** How often a trigger started a run, and when last: counted from its firings, not kept on the row. */
export interface FiringStats {
  readonly fireCount: number;
  readonly lastRunAt: string | null;
}

export function viewOfTrigger(
  row: TriggerRow,
  stats: FiringStats = { fireCount: 0, lastRunAt: null },
): TriggerView {
  const type = row.type as TriggerView['type'];
  return {
    id: row.id,
    workflow: row.workflow_name ?? '',
    type,
    enabled: Boolean(row.enabled),
    path: row.webhook_path,
    previousSecretValidUntil:
      row.webhook_secret_previous_until !== null && Date.parse(row.webhook_secret_previous_until) > Date.now()
        ? row.webhook_secret_previous_until
        : null,
    cron: row.cron_expression,
    timezone: type === 'schedule' ? row.timezone : null,
    misfire: type === 'schedule' ? (row.misfire_policy as 'skip' | 'catch_up') : null,
    catchUpLimit: type === 'schedule' ? row.catch_up_limit : null,
    nextRunAt: row.next_run_at,
    lastRunAt: stats.lastRunAt,
    eventSource: row.event_source,
    eventType: row.event_type,
    fireCount: stats.fireCount,
    createdAt: row.created_at,
  };
}

/** One firing of a trigger: the run it started, or why it started none. */
export interface FiringView {
  readonly id: string;
  readonly key: string;
  readonly status: 'started' | 'skipped' | 'failed' | 'refused';
  readonly runId: string | null;
  readonly error: string | null;
  /** Why the event loop guard refused it: `depth-limit` or `self-triggered`; else null. */
  readonly reason: 'depth-limit' | 'self-triggered' | 'throttled' | null;
  readonly scheduledFor: string | null;
  readonly createdAt: string;
}
