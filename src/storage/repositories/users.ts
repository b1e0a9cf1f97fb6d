import type { Kysely, Selectable } from 'kysely';
import { NotFoundError, SwarmError } from '../../errors/index.js';
import type { Caller, Role } from '../caller.js';
import type { DialectAdapter } from '../dialect/dialect.js';
import type { SwarmDatabase, UsersTable } from '../schema-types.js';
import { fromDbJson, newId, nowTimestamp, toDbJson, toDbText } from '../values.js';
import { auditedWrite } from './audit-logs.js';

/** A user as anyone may see it: never the password hash. */
export interface User {
  readonly id: string;
  readonly name: string;
  readonly email: string;
  readonly role: Role;
  readonly status: 'active' | 'disabled';
  /** Scopes an admin granted beyond the role's (`agents:publish`). */
  readonly grants: string[];
  readonly lastSignedInAt: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export function toUser(row: Selectable<UsersTable>): User {
  return {
    id: row.id,
    name: row.name,
    email: row.email,
    role: row.role,
    status: row.status,
    grants: fromDbJson<string[]>(row.grants) ?? [],
    lastSignedInAt: row.last_signed_in_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export interface NewUser {
  readonly name: string;
  readonly email: string;
  readonly role: Role;
  readonly passwordHash?: string;
  readonly grants?: readonly string[];
}

function userValues(user: NewUser) {
  return {
    id: newId(),
    name: toDbText(user.name),
    email: user.email.toLowerCase(),
    role: user.role,
    password_hash: user.passwordHash ?? null,
    grants: toDbJson(user.grants ?? []),
  };
}

/**
 * Inserts a user unless one with that email exists. Returns the new user, or null when the
 * email was taken: concurrent first starts on one database create the admin exactly once.
 */
export async function insertUserIfAbsent(db: Kysely<SwarmDatabase>, user: NewUser): Promise<User | null> {
  const row = await db
    .insertInto('users')
    .values(userValues(user))
    .onConflict((oc) => oc.column('email').doNothing())
    .returningAll()
    .executeTakeFirst();
  return row === undefined ? null : toUser(row);
}

export async function findUserById(db: Kysely<SwarmDatabase>, id: string): Promise<User | null> {
  const row = await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  return row === undefined ? null : toUser(row);
}

export async function findUserByEmail(db: Kysely<SwarmDatabase>, email: string): Promise<User | null> {
  const row = await db
    .selectFrom('users')
    .selectAll()
    .where('email', '=', email.toLowerCase())
    .executeTakeFirst();
  return row === undefined ? null : toUser(row);
}

/** The first admin by creation: the owner of imported data when none is named. */
export async function findFirstAdmin(db: Kysely<SwarmDatabase>): Promise<User | null> {
  const row = await db
    .selectFrom('users')
    .selectAll()
    .where('role', '=', 'admin')
    .where('status', '=', 'active')
    .orderBy('created_at')
    .orderBy('id')
    .executeTakeFirst();
  return row === undefined ? null : toUser(row);
}

export async function countUsers(db: Kysely<SwarmDatabase>): Promise<number> {
  const row = await db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Sign-in's lookup: the user and the stored hash, whatever the user's state. */
export async function findUserCredentials(
  db: Kysely<SwarmDatabase>,
  email: string,
): Promise<{ user: User; passwordHash: string | null } | null> {
  const row = await db
    .selectFrom('users')
    .selectAll()
    .where('email', '=', email.toLowerCase())
    .executeTakeFirst();
  return row === undefined ? null : { user: toUser(row), passwordHash: row.password_hash };
}

/** A successful sign-in: when, and the password's new hash when its parameters were raised. */
export async function recordSignIn(
  db: Kysely<SwarmDatabase>,
  id: string,
  at: string,
  newHash?: string,
): Promise<void> {
  await db
    .updateTable('users')
    .set({ last_signed_in_at: at, ...(newHash === undefined ? {} : { password_hash: newHash }) })
    .where('id', '=', id)
    .execute();
}

/** Sets a password hash without the admin checks: the first-start admin's own. */
export async function setPasswordHash(db: Kysely<SwarmDatabase>, id: string, hash: string): Promise<void> {
  await db
    .updateTable('users')
    .set({ password_hash: hash, updated_at: nowTimestamp() })
    .where('id', '=', id)
    .execute();
}

// ---- Administration (admins only: the routes declare `users:admin`, and these check again) ----

function requireAdmin(caller: Caller): void {
  if (caller.role !== 'admin') throw new SwarmError('FORBIDDEN', 'only an admin manages users');
}

export async function listUsers(db: Kysely<SwarmDatabase>, caller: Caller): Promise<User[]> {
  requireAdmin(caller);
  const rows = await db.selectFrom('users').selectAll().orderBy('created_at').orderBy('id').execute();
  return rows.map(toUser);
}

/** One user by id, or by email when the reference holds an `@`. */
export async function findUser(db: Kysely<SwarmDatabase>, caller: Caller, ref: string): Promise<User> {
  requireAdmin(caller);
  const user = ref.includes('@') ? await findUserByEmail(db, ref) : await findUserById(db, ref);
  if (user === null) throw new NotFoundError('user', ref);
  return user;
}

/** Creates a user; an email already taken is a conflict (409). */
export async function createUser(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  caller: Caller,
  user: NewUser,
): Promise<User> {
  requireAdmin(caller);
  const created = await auditedWrite(
    db,
    dialect,
    async (trx) => {
      const row = await trx
        .insertInto('users')
        .values(userValues(user))
        .onConflict((oc) => oc.column('email').doNothing())
        .returningAll()
        .executeTakeFirst();
      return row === undefined ? null : toUser(row);
    },
    (made) =>
      made === null
        ? null
        : {
            action: 'user.create',
            caller,
            ownerId: made.id,
            resourceType: 'user',
            resourceId: made.id,
            metadata: { email: made.email, role: made.role },
          },
  );
  if (created === null)
    throw new SwarmError('CONFLICT', `a user with email ${user.email.toLowerCase()} exists already`, {
      issues: [{ field: 'body.email', message: 'is taken' }],
    });
  return created;
}

export interface UserChange {
  readonly name?: string;
  readonly role?: Role;
  readonly status?: 'active' | 'disabled';
  readonly grants?: readonly string[];
}

/**
 * Changes a user. Disabling one also revokes its sessions (its keys stop working as long as it
 * is disabled). The last active admin cannot be demoted or disabled: no one could undo it.
 */
export async function updateUser(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  caller: Caller,
  ref: string,
  change: UserChange,
): Promise<User> {
  requireAdmin(caller);
  const target = await findUser(db, caller, ref);
  return auditedWrite(
    db,
    dialect,
    async (trx) => {
      const losesAdmin =
        target.role === 'admin' &&
        target.status === 'active' &&
        ((change.role !== undefined && change.role !== 'admin') || change.status === 'disabled');
      if (losesAdmin) {
        const others = await trx
          .selectFrom('users')
          .select('id')
          .where('role', '=', 'admin')
          .where('status', '=', 'active')
          .where('id', '!=', target.id)
          .limit(1)
          .execute();
        if (others.length === 0)
          throw new SwarmError(
            'CONFLICT',
            `${target.email} is the last active admin: make another user admin first`,
          );
      }
      const row = await trx
        .updateTable('users')
        .set({
          ...(change.name === undefined ? {} : { name: toDbText(change.name) }),
          ...(change.role === undefined ? {} : { role: change.role }),
          ...(change.status === undefined ? {} : { status: change.status }),
          ...(change.grants === undefined ? {} : { grants: toDbJson([...new Set(change.grants)]) }),
          updated_at: nowTimestamp(),
        })
        .where('id', '=', target.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      if (change.status === 'disabled') await revokeAllSessions(trx, target.id);
      return toUser(row);
    },
    (user) => ({
      action: 'user.update',
      caller,
      ownerId: user.id,
      resourceType: 'user',
      resourceId: user.id,
      metadata: { email: user.email, change: { ...change } },
    }),
  );
}

/** Sets a user's password (hashed by the caller); every session of that user ends. */
export async function setPassword(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  caller: Caller,
  ref: string,
  passwordHash: string,
): Promise<User> {
  requireAdmin(caller);
  const target = await findUser(db, caller, ref);
  return auditedWrite(
    db,
    dialect,
    async (trx) => {
      const row = await trx
        .updateTable('users')
        .set({ password_hash: passwordHash, updated_at: nowTimestamp() })
        .where('id', '=', target.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await revokeAllSessions(trx, target.id);
      return toUser(row);
    },
    (user) => ({
      action: 'user.password_reset',
      caller,
      ownerId: user.id,
      resourceType: 'user',
      resourceId: user.id,
      metadata: { email: user.email },
    }),
  );
}

async function revokeAllSessions(db: Kysely<SwarmDatabase>, userId: string): Promise<void> {
  await db
    .updateTable('sessions')
    .set({ revoked_at: nowTimestamp() })
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .execute();
}
