import { sql, type Kysely, type Selectable } from 'kysely';
import { InputError } from '../../errors/index.js';
import type { Caller } from '../caller.js';
import type { AlertsTable, SwarmDatabase } from '../schema-types.js';
import { fromDbBool, fromDbJson, newId, toDbBool, toDbJson, toDbTimestamp } from '../values.js';

/**
 * Alerts raised by Swarm itself (src/alerts/). An owner has at most one open alert per `cause`
 * (the partial unique index `uq_alerts_open_cause`): raising it again is one upsert that counts
 * the repeat, atomic on both dialects whichever process does it.
 */

type Db = Kysely<SwarmDatabase>;
export type AlertType =
  | 'agent_failure'
  | 'task_timeout'
  | 'system_error'
  | 'task_completion'
  | 'performance_degradation'
  | 'budget_exceeded';
export type AlertSeverity = 'info' | 'warning' | 'critical';

export interface NewAlert {
  readonly ownerId: string;
  readonly type: AlertType;
  readonly severity: AlertSeverity;
  /** What it is about; one open alert per owner and cause. */
  readonly cause: string;
  readonly title: string;
  readonly message?: string | null;
  readonly relatedAgentId?: string | null;
  readonly relatedTaskId?: string | null;
  readonly relatedRunId?: string | null;
  readonly metadata?: Record<string, unknown>;
  /**
   * A count the cause has reached (an agent's failures in a row), for evaluations that may look
   * at the same outcomes twice: the alert's count becomes it if higher, else nothing changes.
   * Without it, each raise is one more repeat.
   */
  readonly count?: number;
}

export interface Alert {
  readonly id: string;
  readonly ownerId: string;
  readonly type: AlertType;
  readonly severity: AlertSeverity;
  readonly cause: string;
  readonly title: string;
  readonly message: string | null;
  readonly count: number;
  readonly resolved: boolean;
  readonly resolvedAt: string | null;
  /** `auto` (its cause cleared) or the id of the user who resolved it. */
  readonly resolvedBy: string | null;
  readonly relatedAgentId: string | null;
  readonly relatedTaskId: string | null;
  readonly relatedRunId: string | null;
  readonly metadata: Record<string, unknown>;
  readonly createdAt: string;
  readonly lastSeenAt: string;
  readonly updatedAt: string;
}

function toAlert(row: Selectable<AlertsTable>): Alert {
  return {
    id: row.id,
    ownerId: row.owner_id,
    type: row.alert_type as AlertType,
    severity: row.severity as AlertSeverity,
    cause: row.cause,
    title: row.title,
    message: row.message,
    count: Number(row.count),
    resolved: fromDbBool(row.resolved),
    resolvedAt: row.resolved_at,
    resolvedBy: row.resolved_by,
    relatedAgentId: row.related_agent_id,
    relatedTaskId: row.related_task_id,
    relatedRunId: row.related_run_id,
    metadata: fromDbJson<Record<string, unknown>>(row.metadata) ?? {},
    createdAt: row.created_at,
    lastSeenAt: row.last_seen_at,
    updatedAt: row.updated_at,
  };
}

/** What a raise did: opened a new alert, counted a repeat of the open one, or nothing (no higher count). */
export type RaiseOutcome = { readonly alert: Alert; readonly opened: boolean } | null;

/**
 * Opens the alert, or counts a repeat on the owner's open alert with the same cause: one
 * INSERT … ON CONFLICT on the partial unique index, so concurrent raises make one row.
 */
export async function raiseAlert(db: Db, alert: NewAlert, now: Date = new Date()): Promise<RaiseOutcome> {
  const at = toDbTimestamp(now);
  const id = newId();
  const count = alert.count === undefined ? null : Math.max(1, Math.floor(alert.count));
  const row = await db
    .insertInto('alerts')
    .values({
      id,
      owner_id: alert.ownerId,
      alert_type: alert.type,
      severity: alert.severity,
      cause: alert.cause,
      title: alert.title,
      message: alert.message ?? null,
      related_agent_id: alert.relatedAgentId ?? null,
      related_task_id: alert.relatedTaskId ?? null,
      related_run_id: alert.relatedRunId ?? null,
      metadata: toDbJson(alert.metadata ?? {}),
      count: count ?? 1,
      resolved: toDbBool(false),
      created_at: at,
      last_seen_at: at,
      updated_at: at,
    })
    .onConflict((oc) => {
      // The conflict target names the partial index's predicate, as both dialects require.
      const target = oc.columns(['owner_id', 'cause']).where(sql<boolean>`resolved = false`);
      const update = target.doUpdateSet({
        count: count === null ? sql`alerts.count + 1` : sql`${count}`,
        severity: alert.severity,
        title: alert.title,
        message: alert.message ?? null,
        related_task_id: sql`COALESCE(${alert.relatedTaskId ?? null}, alerts.related_task_id)`,
        related_run_id: sql`COALESCE(${alert.relatedRunId ?? null}, alerts.related_run_id)`,
        metadata: toDbJson(alert.metadata ?? {}),
        last_seen_at: at,
        updated_at: at,
      });
      return count === null ? update : update.where(sql<boolean>`alerts.count < ${count}`);
    })
    .returningAll()
    .executeTakeFirst();
  if (row === undefined) return null;
  return { alert: toAlert(row), opened: row.id === id };
}

/**
 * Resolves the owner's open alerts with these causes (or all of them when `causes` is null and
 * `type` is given), recording who; returns the ones it resolved.
 */
export async function resolveOpenAlerts(
  db: Db,
  ownerId: string,
  which: { readonly causes?: readonly string[]; readonly causePrefix?: string },
  by: string,
  now: Date = new Date(),
): Promise<Alert[]> {
  if (which.causes !== undefined && which.causes.length === 0) return [];
  const at = toDbTimestamp(now);
  let query = db
    .updateTable('alerts')
    .set({ resolved: toDbBool(true), resolved_at: at, resolved_by: by, updated_at: at })
    .where('owner_id', '=', ownerId)
    .where(sql<boolean>`resolved = false`);
  if (which.causes !== undefined) query = query.where('cause', 'in', which.causes);
  if (which.causePrefix !== undefined) {
    const prefix = which.causePrefix;
    query = query.where(sql<string>`substr(cause, 1, ${prefix.length})`, '=', prefix);
  }
  return (await query.returningAll().execute()).map(toAlert);
}

/** Open alerts whose cause starts with `prefix`, every owner's (periodic evaluations). */
export async function listOpenAlertsByPrefix(db: Db, prefix: string, limit = 1000): Promise<Alert[]> {
  const rows = await db
    .selectFrom('alerts')
    .selectAll()
    .where(sql<boolean>`resolved = false`)
    .where(sql<string>`substr(cause, 1, ${prefix.length})`, '=', prefix)
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map(toAlert);
}

export interface AlertFilters {
  readonly resolved?: boolean;
  readonly type?: AlertType;
  readonly severity?: AlertSeverity;
  /** The last id of the previous page (ids sort by creation time). */
  readonly cursor?: string;
  /** 1–999. @default 50 */
  readonly limit?: number;
}

/** The caller's alerts, newest first, a page at a time. */
export async function listAlerts(
  db: Db,
  caller: Caller,
  filters: AlertFilters = {},
): Promise<{ items: Alert[]; next: string | null }> {
  const limit = filters.limit ?? 50;
  if (!Number.isInteger(limit) || limit < 1 || limit > 999)
    throw new InputError('limit', 'must be an integer from 1 to 999');
  let query = db.selectFrom('alerts').selectAll().where('owner_id', '=', caller.userId);
  if (filters.resolved !== undefined)
    query = query.where(sql<boolean>`resolved = ${sql.raw(filters.resolved ? 'true' : 'false')}`);
  if (filters.type !== undefined) query = query.where('alert_type', '=', filters.type);
  if (filters.severity !== undefined) query = query.where('severity', '=', filters.severity);
  if (filters.cursor !== undefined) query = query.where('id', '<', filters.cursor);
  const rows = await query
    .orderBy('id', 'desc')
    .limit(limit + 1)
    .execute();
  const page = rows.slice(0, limit);
  return { items: page.map(toAlert), next: rows.length > limit ? page.at(-1)!.id : null };
}

/** How many open alerts the caller has, by severity (the dashboard's badge). */
export async function countOpenAlerts(db: Db, caller: Caller): Promise<Record<AlertSeverity, number>> {
  const rows = await db
    .selectFrom('alerts')
    .select(['severity', sql<number | string>`count(*)`.as('n')])
    .where('owner_id', '=', caller.userId)
    .where(sql<boolean>`resolved = false`)
    .groupBy('severity')
    .execute();
  const counts: Record<AlertSeverity, number> = { info: 0, warning: 0, critical: 0 };
  for (const row of rows) counts[row.severity as AlertSeverity] = Number(row.n);
  return counts;
}

export async function findAlert(db: Db, caller: Caller, id: string): Promise<Alert | undefined> {
  const row = await db
    .selectFrom('alerts')
    .selectAll()
    .where('owner_id', '=', caller.userId)
    .where('id', '=', id)
    .executeTakeFirst();
  return row === undefined ? undefined : toAlert(row);
}

/**
 * Whether the owner resolved an alert of this cause by hand at or after `at` (an ISO timestamp).
 * Alerts raised from an agent's state are looked at again for a while (late commits): evidence
 * from before such a resolution must not open the alert anew.
 */
export async function resolvedByHandSince(
  db: Db,
  ownerId: string,
  cause: string,
  at: string,
): Promise<boolean> {
  const row = await db
    .selectFrom('alerts')
    .select('id')
    .where('owner_id', '=', ownerId)
    .where('cause', '=', cause)
    .where(sql<boolean>`resolved = true`)
    .where('resolved_by', '<>', AUTO_RESOLVED_BY)
    .where('resolved_at', '>=', at)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** `resolved_by` of an alert Swarm resolved itself, its cause cleared (src/alerts AUTO_RESOLVER). */
export const AUTO_RESOLVED_BY = 'auto';

/** Resolves one of the caller's alerts by hand; undefined when it has no such alert. */
export async function resolveAlertByHand(
  db: Db,
  caller: Caller,
  id: string,
  now: Date = new Date(),
): Promise<{ alert: Alert; changed: boolean } | undefined> {
  const at = toDbTimestamp(now);
  const row = await db
    .updateTable('alerts')
    .set({ resolved: toDbBool(true), resolved_at: at, resolved_by: caller.userId, updated_at: at })
    .where('owner_id', '=', caller.userId)
    .where('id', '=', id)
    .where(sql<boolean>`resolved = false`)
    .returningAll()
    .executeTakeFirst();
  if (row !== undefined) return { alert: toAlert(row), changed: true };
  const found = await findAlert(db, caller, id);
  return found === undefined ? undefined : { alert: found, changed: false };
}
