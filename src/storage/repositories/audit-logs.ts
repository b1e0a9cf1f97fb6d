import { sql, type Kysely } from 'kysely';
import { InputError } from '../../errors/index.js';
import { actorOf, type Caller } from '../caller.js';
import type { DialectAdapter } from '../dialect/dialect.js';
import type { SwarmDatabase } from '../schema-types.js';
import { fromDbBool, fromDbJson, newId, toDbBool, toDbJson, toDbTimestamp } from '../values.js';

/**
 * One audit row: who (`caller`), did what (`action`, `<resource>.<verb>`, e.g. `run.cancel`), to
 * what (`resourceType`, `resourceId`), for whom (`ownerId`, default the caller). The source
 * address and user agent come from the caller (set per request by the auth hook) unless given.
 */
export interface AuditEntry {
  readonly action: string;
  /** Defaults to the action's family (`run` for `run.cancel`). */
  readonly eventType?: string;
  /** @default true: failed mutations roll back and record nothing, except security events. */
  readonly success?: boolean;
  /** The caller, when known; failed authentication and Swarm's own work have none. */
  readonly caller?: Caller;
  /** Whose log it belongs in; defaults to the caller (an admin acting on another owner's rows: theirs). */
  readonly ownerId?: string;
  readonly resourceType?: string;
  readonly resourceId?: string;
  readonly ipAddress?: string;
  readonly userAgent?: string;
  readonly errorMessage?: string;
  /** Details; never secret values (fields named like secrets are masked all the same). */
  readonly metadata?: Record<string, unknown>;
}

/** Field names whose values are never stored, whatever a caller passes: defence in depth. */
const SECRET_FIELD = /secret|password|passwd|token|cookie|authorization|credential|^key$|^value$|api_?key$/i;

function scrub(value: unknown, depth = 0): unknown {
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([k, v]) => [
      k,
      SECRET_FIELD.test(k) && v !== null && typeof v !== 'boolean' ? '[redacted]' : scrub(v, depth + 1),
    ]),
  );
}

/**
 * Writes one audit row. Pass the mutation's transaction as `db`, so the row and the change
 * commit (or roll back) together.
 */
export async function recordAudit(db: Kysely<SwarmDatabase>, entry: AuditEntry): Promise<void> {
  const ipAddress = entry.ipAddress ?? entry.caller?.ipAddress;
  const userAgent = entry.userAgent ?? entry.caller?.userAgent;
  await db
    .insertInto('audit_logs')
    .values({
      id: newId(),
      owner_id: entry.ownerId ?? entry.caller?.userId ?? null,
      actor_id: entry.caller === undefined ? null : actorOf(entry.caller),
      key_id: entry.caller?.keyId ?? null,
      event_type: entry.eventType ?? entry.action.split('.')[0]!,
      action: entry.action,
      resource_type: entry.resourceType ?? null,
      resource_id: entry.resourceId ?? null,
      ip_address: ipAddress?.slice(0, 64) ?? null,
      user_agent: userAgent?.slice(0, 512) ?? null,
      success: toDbBool(entry.success ?? true),
      error_message: entry.errorMessage?.slice(0, 512) ?? null,
      extra_metadata: toDbJson(scrub(entry.metadata ?? {})),
    })
    .execute();
}

export interface AuditRecord {
  readonly id: string;
  readonly ownerId: string | null;
  readonly actorId: string | null;
  /** The actor's email, while the user exists. */
  readonly actorEmail: string | null;
  readonly keyId: string | null;
  readonly eventType: string;
  readonly action: string;
  readonly success: boolean;
  readonly resourceType: string | null;
  readonly resourceId: string | null;
  readonly ipAddress: string | null;
  readonly userAgent: string | null;
  readonly errorMessage: string | null;
  readonly metadata: Record<string, unknown>;
  readonly createdAt: string;
}

export interface AuditFilters {
  /** A user id or email. */
  readonly actor?: string;
  /** Exact, or a family: `run` matches `run.cancel`; a trailing `*` matches any prefix. */
  readonly action?: string;
  readonly resourceType?: string;
  readonly resourceId?: string;
  /** ISO-8601 instants, inclusive. */
  readonly since?: string;
  readonly until?: string;
  /** From a previous page's `nextCursor`. */
  readonly cursor?: string;
  /** 1–500. @default 100 */
  readonly limit?: number;
}

export const MAX_AUDIT_PAGE = 500;

/** The cursor is opaque to clients: the last row's (created_at, id), base64url JSON. */
function encodeCursor(createdAt: string, id: string): string {
  return Buffer.from(JSON.stringify([createdAt, id])).toString('base64url');
}

function decodeCursor(cursor: string): [string, string] {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === 'string')) {
      return [toDbTimestamp(value[0] as string, 'cursor'), value[1] as string];
    }
  } catch {
    // Reported below, as any other malformed cursor.
  }
  throw new InputError('cursor', 'not a cursor this API returned');
}

/**
 * A page of audit rows, newest first (keyset on created_at, id). Admins see every owner's rows;
 * anyone else the rows of their resources and the rows of what they did.
 */
export async function listAudit(
  db: Kysely<SwarmDatabase>,
  caller: Caller,
  filters: AuditFilters = {},
): Promise<{ items: AuditRecord[]; nextCursor: string | null }> {
  const limit = filters.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_AUDIT_PAGE)
    throw new InputError('limit', `must be an integer from 1 to ${MAX_AUDIT_PAGE}`);
  let query = db.selectFrom('audit_logs').selectAll();
  if (caller.role !== 'admin')
    query = query.where((eb) =>
      eb.or([eb('owner_id', '=', caller.userId), eb('actor_id', '=', caller.userId)]),
    );
  const actor = filters.actor;
  if (actor !== undefined) {
    // A user id, or an email (ids never hold '@').
    query = actor.includes('@')
      ? query.where('actor_id', 'in', (eb) => eb.selectFrom('users').select('id').where('email', '=', actor))
      : query.where('actor_id', '=', actor);
  }
  if (filters.action !== undefined) {
    const action = filters.action;
    if (action.endsWith('*')) {
      const prefix = action.slice(0, -1);
      query = query.where(sql<string>`substr(action, 1, ${prefix.length})`, '=', prefix);
    } else {
      const family = `${action}.`;
      query = query.where((eb) =>
        eb.or([eb('action', '=', action), eb(sql<string>`substr(action, 1, ${family.length})`, '=', family)]),
      );
    }
  }
  if (filters.resourceType !== undefined) query = query.where('resource_type', '=', filters.resourceType);
  if (filters.resourceId !== undefined) query = query.where('resource_id', '=', filters.resourceId);
  if (filters.since !== undefined)
    query = query.where('created_at', '>=', toDbTimestamp(filters.since, 'since'));
  if (filters.until !== undefined)
    query = query.where('created_at', '<=', toDbTimestamp(filters.until, 'until'));
  if (filters.cursor !== undefined) {
    const [createdAt, id] = decodeCursor(filters.cursor);
    query = query.where((eb) =>
      eb.or([
        eb('created_at', '<', createdAt),
        eb.and([eb('created_at', '=', createdAt), eb('id', '<', id)]),
      ]),
    );
  }
  const rows = await query
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit + 1)
    .execute();
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  // Who the actors are, for people reading the log: one lookup per page, not a join per row.
  const actorIds = [...new Set(page.flatMap((r) => (r.actor_id === null ? [] : [r.actor_id])))];
  const emails = new Map(
    actorIds.length === 0
      ? []
      : (await db.selectFrom('users').select(['id', 'email']).where('id', 'in', actorIds).execute()).map(
          (u) => [u.id, u.email],
        ),
  );
  return {
    items: page.map((r) => ({
      id: r.id,
      ownerId: r.owner_id,
      actorId: r.actor_id,
      actorEmail: r.actor_id === null ? null : (emails.get(r.actor_id) ?? null),
      keyId: r.key_id,
      eventType: r.event_type,
      action: r.action,
      success: fromDbBool(r.success),
      resourceType: r.resource_type,
      resourceId: r.resource_id,
      ipAddress: r.ip_address,
      userAgent: r.user_agent,
      errorMessage: r.error_message,
      metadata: fromDbJson<Record<string, unknown>>(r.extra_metadata) ?? {},
      createdAt: r.created_at,
    })),
    nextCursor: rows.length > limit && last !== undefined ? encodeCursor(last.created_at, last.id) : null,
  };
}

/** Deletes audit rows older than `before`, at most `limit` per call (a backlog drains over calls). */
export async function pruneAudit(db: Kysely<SwarmDatabase>, before: string, limit = 5000): Promise<number> {
  const result = await db
    .deleteFrom('audit_logs')
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('audit_logs')
        .select('id')
        .where('created_at', '<', before)
        .orderBy('created_at')
        .limit(limit),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/**
 * Runs `change` and writes its audit row in one write transaction, so neither commits without
 * the other. `entry` sees the change's result; null records nothing (the change was a no-op).
 */
export async function auditedWrite<T>(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  change: (trx: Kysely<SwarmDatabase>) => Promise<T>,
  entry: (result: T) => AuditEntry | null,
): Promise<T> {
  return dialect.writeTransaction(db, async (trx) => {
    const result = await change(trx);
    const audit = entry(result);
    if (audit !== null) await recordAudit(trx, audit);
    return result;
  });
}
