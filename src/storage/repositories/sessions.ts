import type { Kysely, Selectable } from 'kysely';
import { NotFoundError } from '../../errors/index.js';
import type { Caller, Role } from '../caller.js';
import type { DialectAdapter } from '../dialect/dialect.js';
import type { SessionsTable, SwarmDatabase } from '../schema-types.js';
import { fromDbJson, newId, nowTimestamp, toDbText } from '../values.js';
import { auditedWrite } from './audit-logs.js';

/** A session as its user sees it: never the token or its hash. */
export interface Session {
  readonly id: string;
  readonly userId: string;
  readonly createdAt: string;
  readonly lastSeenAt: string;
  readonly idleExpiresAt: string;
  readonly expiresAt: string;
  readonly ipAddress: string | null;
  readonly userAgent: string | null;
  readonly revokedAt: string | null;
}

function toSession(row: Selectable<SessionsTable>): Session {
  return {
    id: row.id,
    userId: row.user_id,
    createdAt: row.created_at,
    lastSeenAt: row.last_seen_at,
    idleExpiresAt: row.idle_expires_at,
    expiresAt: row.expires_at,
    ipAddress: row.ip_address,
    userAgent: row.user_agent,
    revokedAt: row.revoked_at,
  };
}

export interface NewSession {
  readonly tokenHash: string;
  readonly createdAt: string;
  readonly idleExpiresAt: string;
  readonly expiresAt: string;
}

/**
 * A new session for the user signing in (`caller`, with the request's address and user agent),
 * with its audit row (`session.create`) in the same transaction.
 */
export async function createSession(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  caller: Caller,
  session: NewSession,
): Promise<Session> {
  return auditedWrite(
    db,
    dialect,
    async (trx) =>
      toSession(
        await trx
          .insertInto('sessions')
          .values({
            id: newId(),
            user_id: caller.userId,
            token_hash: session.tokenHash,
            created_at: session.createdAt,
            last_seen_at: session.createdAt,
            idle_expires_at: session.idleExpiresAt,
            expires_at: session.expiresAt,
            ip_address: caller.ipAddress?.slice(0, 64) ?? null,
            user_agent: caller.userAgent === undefined ? null : toDbText(caller.userAgent.slice(0, 512)),
          })
          .returningAll()
          .executeTakeFirstOrThrow(),
      ),
    (made) => ({ action: 'session.create', caller, resourceType: 'session', resourceId: made.id }),
  );
}

export interface SessionOwner {
  readonly session: Session;
  readonly user: {
    readonly id: string;
    readonly role: Role;
    readonly status: 'active' | 'disabled';
    readonly grants: string[];
  };
}

/** Authentication's lookup: the session with this token hash and its user, whatever their state. */
export async function findSessionByTokenHash(
  db: Kysely<SwarmDatabase>,
  hash: string,
): Promise<SessionOwner | null> {
  const row = await db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    .selectAll('sessions')
    .select(['users.role as user_role', 'users.status as user_status', 'users.grants as user_grants'])
    .where('sessions.token_hash', '=', hash)
    .executeTakeFirst();
  if (row === undefined) return null;
  const { user_role, user_status, user_grants, ...session } = row;
  return {
    session: toSession(session),
    user: {
      id: session.user_id,
      role: user_role,
      status: user_status,
      grants: fromDbJson<string[]>(user_grants) ?? [],
    },
  };
}

/** Marks use: moves the idle expiry forward. Called at most once a minute per session. */
export async function touchSession(
  db: Kysely<SwarmDatabase>,
  id: string,
  lastSeenAt: string,
  idleExpiresAt: string,
): Promise<void> {
  await db
    .updateTable('sessions')
    .set({ last_seen_at: lastSeenAt, idle_expires_at: idleExpiresAt })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .execute();
}

/** The caller's sessions that still work at `now`, newest first. */
export async function listSessions(
  db: Kysely<SwarmDatabase>,
  caller: Caller,
  now: string,
): Promise<Session[]> {
  const rows = await db
    .selectFrom('sessions')
    .selectAll()
    .where('user_id', '=', caller.userId)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .where('idle_expires_at', '>', now)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .execute();
  return rows.map(toSession);
}

/** Revokes one of the caller's sessions (an admin's: anyone's); others are "not found". */
export async function revokeSession(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  caller: Caller,
  id: string,
): Promise<Session> {
  const session = await auditedWrite(
    db,
    dialect,
    async (trx) => {
      let query = trx
        .updateTable('sessions')
        .set({ revoked_at: nowTimestamp() })
        .where('id', '=', id)
        .where('revoked_at', 'is', null);
      if (caller.role !== 'admin') query = query.where('user_id', '=', caller.userId);
      const row = await query.returningAll().executeTakeFirst();
      return row === undefined ? null : toSession(row);
    },
    (revoked) =>
      revoked === null
        ? null
        : {
            action: 'session.revoke',
            caller,
            ownerId: revoked.userId,
            resourceType: 'session',
            resourceId: revoked.id,
          },
  );
  if (session === null) throw new NotFoundError('session', id);
  return session;
}

/** Deletes sessions that ended (expired or revoked) before `before`. */
export async function pruneSessions(db: Kysely<SwarmDatabase>, before: string): Promise<number> {
  const result = await db
    .deleteFrom('sessions')
    .where((eb) =>
      eb.or([
        eb('expires_at', '<', before),
        eb('idle_expires_at', '<', before),
        eb('revoked_at', '<', before),
      ]),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
