import type { Role } from '../caller.js';
import { sql, type Kysely, type Selectable } from 'kysely';
import { NotFoundError } from '../../errors/index.js';
import { actorOf, type Caller } from '../caller.js';
import type { DialectAdapter } from '../dialect/dialect.js';
import type { ApiKeysTable, SwarmDatabase } from '../schema-types.js';
import { fromDbBool, fromDbJson, newId, nowTimestamp, toDbBool, toDbJson } from '../values.js';
import { recordAudit } from './audit-logs.js';

/** An API key as anyone may see it: never the key itself, never its hash. */
export interface ApiKey {
  readonly id: string;
  readonly ownerId: string;
  readonly name: string;
  readonly description: string | null;
  readonly prefix: string;
  readonly scopes: string[];
  readonly active: boolean;
  readonly expiresAt: string | null;
  readonly lastUsedAt: string | null;
  readonly rateLimitPerMinute: number;
  readonly rateLimitPerHour: number;
  readonly createdAt: string;
  readonly revokedAt: string | null;
}

function toApiKey(row: Selectable<ApiKeysTable>): ApiKey {
  return {
    id: row.id,
    ownerId: row.owner_id,
    name: row.name,
    description: row.description,
    prefix: row.key_prefix,
    scopes: fromDbJson<string[]>(row.scopes) ?? [],
    active: fromDbBool(row.active),
    expiresAt: row.expires_at,
    lastUsedAt: row.last_used_at,
    rateLimitPerMinute: row.rate_limit_per_minute,
    rateLimitPerHour: row.rate_limit_per_hour,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
  };
}

export interface NewApiKey {
  readonly name: string;
  readonly description?: string;
  readonly prefix: string;
  readonly hash: string;
  readonly scopes: string[];
  readonly expiresAt?: string;
  /** @default seed 001's column defaults (60 and 1000) */
  readonly rateLimitPerMinute?: number;
  readonly rateLimitPerHour?: number;
}

/** Creates a key for the caller, audited in the same transaction (its prefix, never the key). */
export async function createApiKey(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  caller: Caller,
  key: NewApiKey,
): Promise<ApiKey> {
  return dialect.writeTransaction(db, async (trx) => {
    const created = await insertApiKey(trx, caller, key);
    await recordAudit(trx, {
      caller,
      action: 'key.create',
      resourceType: 'api_key',
      resourceId: created.id,
      metadata: {
        name: created.name,
        prefix: created.prefix,
        scopes: created.scopes,
        expiresAt: created.expiresAt,
        rateLimitPerMinute: created.rateLimitPerMinute,
        rateLimitPerHour: created.rateLimitPerHour,
      },
    });
    return created;
  });
}

async function insertApiKey(db: Kysely<SwarmDatabase>, caller: Caller, key: NewApiKey): Promise<ApiKey> {
  const row = await db
    .insertInto('api_keys')
    .values({
      id: newId(),
      owner_id: caller.userId,
      created_by: actorOf(caller),
      name: key.name,
      description: key.description ?? null,
      key_prefix: key.prefix,
      key_hash: key.hash,
      scopes: toDbJson(key.scopes),
      expires_at: key.expiresAt ?? null,
      ...(key.rateLimitPerMinute === undefined ? {} : { rate_limit_per_minute: key.rateLimitPerMinute }),
      ...(key.rateLimitPerHour === undefined ? {} : { rate_limit_per_hour: key.rateLimitPerHour }),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toApiKey(row);
}

export async function listApiKeys(db: Kysely<SwarmDatabase>, caller: Caller): Promise<ApiKey[]> {
  const rows = await db
    .selectFrom('api_keys')
    .selectAll()
    .where('owner_id', '=', caller.userId)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .execute();
  return rows.map(toApiKey);
}

/** Revokes one of the caller's keys; another owner's key is "not found", not "forbidden". */
export async function revokeApiKey(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  caller: Caller,
  id: string,
): Promise<ApiKey> {
  return dialect.writeTransaction(db, async (trx) => {
    const row = await trx
      .updateTable('api_keys')
      .set({ active: toDbBool(false), revoked_at: nowTimestamp() })
      .where('id', '=', id)
      .where('owner_id', '=', caller.userId)
      .returningAll()
      .executeTakeFirst();
    if (row === undefined) throw new NotFoundError('api key', id);
    await recordAudit(trx, {
      caller,
      action: 'key.revoke',
      resourceType: 'api_key',
      resourceId: row.id,
      metadata: { name: row.name, prefix: row.key_prefix },
    });
    return toApiKey(row);
  });
}

export interface KeyOwner {
  readonly key: ApiKey;
  readonly user: {
    readonly id: string;
    readonly role: Role;
    readonly status: 'active' | 'disabled';
    /** Scopes an admin granted beyond the role (`agents:publish`): a key acts within them too. */
    readonly grants: string[];
  };
}

/** Authentication's lookup: the key with this hash and its owner, whatever their state. */
export async function findApiKeyByHash(db: Kysely<SwarmDatabase>, hash: string): Promise<KeyOwner | null> {
  const row = await db
    .selectFrom('api_keys')
    .innerJoin('users', 'users.id', 'api_keys.owner_id')
    .selectAll('api_keys')
    .select(['users.role as user_role', 'users.status as user_status', 'users.grants as user_grants'])
    .where('api_keys.key_hash', '=', hash)
    .executeTakeFirst();
  if (row === undefined) return null;
  const { user_role, user_status, user_grants, ...key } = row;
  return {
    key: toApiKey(key),
    user: {
      id: key.owner_id,
      role: user_role,
      status: user_status,
      grants: fromDbJson<string[]>(user_grants) ?? [],
    },
  };
}

/**
 * When keys were last used, `id → ISO time`, in one statement (per chunk of the dialect's
 * parameter limit): the authenticator gathers them for a few seconds instead of writing per request.
 */
export async function touchApiKeys(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  touches: ReadonlyMap<string, string>,
): Promise<void> {
  const entries = [...touches];
  // Three parameters a key: the id twice (CASE and IN) and its time.
  const perStatement = Math.max(1, Math.floor(dialect.maxParameters / 3));
  for (let start = 0; start < entries.length; start += perStatement) {
    const chunk = entries.slice(start, start + perStatement);
    // The ELSE gives the CASE the column's type: with bare parameters alone, PostgreSQL would make
    // it text, which it will not assign to a timestamptz (and a CAST would turn SQLite's text into
    // a number).
    const cases = sql.join(
      chunk.map(([id, at]) => sql`when ${id} then ${at}`),
      sql` `,
    );
    await db
      .updateTable('api_keys')
      .set({ last_used_at: sql<string>`case id ${cases} else last_used_at end` })
      .where(
        'id',
        'in',
        chunk.map(([id]) => id),
      )
      .execute();
  }
}
