import type { Role } from '../caller.js';
import type { Kysely, Selectable } from 'kysely';
import type { SwarmDatabase, UsersTable } from '../schema-types.js';
import { newId } from '../values.js';

export interface User {
  readonly id: string;
  readonly name: string;
  readonly email: string;
  readonly role: Role;
  readonly status: 'active' | 'disabled';
  readonly createdAt: string;
}

export function toUser(row: Selectable<UsersTable>): User {
  return {
    id: row.id,
    name: row.name,
    email: row.email,
    role: row.role,
    status: row.status,
    createdAt: row.created_at,
  };
}

export interface NewUser {
  readonly name: string;
  readonly email: string;
  readonly role: Role;
  readonly passwordHash?: string;
}

/**
 * Inserts a user unless one with that email exists. Returns the new user, or null when the
 * email was taken: concurrent first starts on one database create the admin exactly once.
 */
export async function insertUserIfAbsent(db: Kysely<SwarmDatabase>, user: NewUser): Promise<User | null> {
  const row = await db
    .insertInto('users')
    .values({
      id: newId(),
      name: user.name,
      email: user.email.toLowerCase(),
      role: user.role,
      password_hash: user.passwordHash ?? null,
    })
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
