import type { Kysely } from 'kysely';
import type { Caller } from '../caller.js';
import type { SwarmDatabase } from '../schema-types.js';
import { fromDbBool, fromDbJson, newId, toDbBool, toDbJson } from '../values.js';

export interface AuditEntry {
  readonly eventType: string;
  readonly action: string;
  readonly success: boolean;
  /** The caller, when known; failed authentication has none. */
  readonly caller?: Caller;
  /** Whose log it belongs in when there is no caller (a rejected webhook: its trigger's owner). */
  readonly ownerId?: string;
  readonly resourceType?: string;
  readonly resourceId?: string;
  readonly ipAddress?: string;
  readonly userAgent?: string;
  readonly errorMessage?: string;
  readonly metadata?: Record<string, unknown>;
}

export async function recordAudit(db: Kysely<SwarmDatabase>, entry: AuditEntry): Promise<void> {
  await db
    .insertInto('audit_logs')
    .values({
      id: newId(),
      owner_id: entry.caller?.userId ?? entry.ownerId ?? null,
      actor_id: entry.caller?.userId ?? null,
      key_id: entry.caller?.keyId ?? null,
      event_type: entry.eventType,
      action: entry.action,
      resource_type: entry.resourceType ?? null,
      resource_id: entry.resourceId ?? null,
      ip_address: entry.ipAddress ?? null,
      user_agent: entry.userAgent?.slice(0, 512) ?? null,
      success: toDbBool(entry.success),
      error_message: entry.errorMessage?.slice(0, 512) ?? null,
      extra_metadata: toDbJson(entry.metadata ?? {}),
    })
    .execute();
}

export interface AuditRecord {
  readonly id: string;
  readonly eventType: string;
  readonly action: string;
  readonly success: boolean;
  readonly resourceType: string | null;
  readonly resourceId: string | null;
  readonly metadata: Record<string, unknown>;
  readonly createdAt: string;
}

export async function listAudit(
  db: Kysely<SwarmDatabase>,
  caller: Caller,
  limit = 100,
): Promise<AuditRecord[]> {
  const rows = await db
    .selectFrom('audit_logs')
    .selectAll()
    .where('owner_id', '=', caller.userId)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    id: r.id,
    eventType: r.event_type,
    action: r.action,
    success: fromDbBool(r.success),
    resourceType: r.resource_type,
    resourceId: r.resource_id,
    metadata: fromDbJson<Record<string, unknown>>(r.extra_metadata) ?? {},
    createdAt: r.created_at,
  }));
}
