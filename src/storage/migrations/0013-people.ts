import { sql, type Kysely } from 'kysely';
import type { DialectAdapter } from '../dialect/dialect.js';
import { createIndex, oneOf, table, type Migration } from './ddl.js';

/** admin manages users and sees every owner's rows; member its own; viewer reads its own. */
export const USER_ROLES = ['admin', 'member', 'viewer'] as const;

/** What a login_attempts row counts failures of: one account (email) or one source address. */
export const LOGIN_ATTEMPT_KINDS = ['account', 'address'] as const;

/**
 * People signing in (issue 13):
 *
 * - `users.role` also accepts `viewer`; `users.grants` lists scopes an admin granted the user
 *   beyond its role (`agents:publish`), JSON, `[]` by default.
 * - `sessions`: the dashboard's cookie sessions. Only the SHA-256 of the 256-bit token is kept
 *   (`token_hash`), so a copy of the database signs no one in. A session ends at
 *   `idle_expires_at` (moved forward as it is used, at most up to) `expires_at`, or when revoked.
 *   Its CSRF token is derived from the token (src/auth/sessions.ts), so it needs no column.
 * - `login_attempts`: failed sign-ins per account and per source address, with the lockout
 *   they earned, in the database so every server process sharing it holds the same count.
 *
 * SQLite cannot change a CHECK in place, and `users` is referenced by most tables, so it is
 * rebuilt with foreign keys off (`foreignKeysOff`, see the migrator) and checked before commit.
 */
export const people: Migration = {
  version: 13,
  name: 'people',
  foreignKeysOff: true,
  async up(db, dialect) {
    if (dialect.name === 'postgres') {
      await sql`ALTER TABLE users DROP CONSTRAINT chk_users_role`.execute(db);
      await sql`ALTER TABLE users ADD CONSTRAINT chk_users_role CHECK (${sql.raw(oneOf('role', USER_ROLES))})`.execute(
        db,
      );
      await db.schema
        .alterTable('users')
        .addColumn('grants', dialect.type('json'), (c) => c.notNull().defaultTo(dialect.jsonDefault([])))
        .execute();
    } else {
      await rebuildUsersOnSqlite(db, dialect);
    }

    await table(db, dialect, 'sessions')
      .id()
      .text('user_id', { notNull: true, references: { table: 'users', onDelete: 'cascade' } })
      .text('token_hash', { notNull: true, unique: true })
      .createdAt()
      .timestamp('last_seen_at', { notNull: true, default: 'now' })
      .timestamp('idle_expires_at', { notNull: true })
      .timestamp('expires_at', { notNull: true })
      .text('ip_address')
      .text('user_agent')
      .timestamp('revoked_at')
      .create();
    await createIndex(db, dialect, 'idx_sessions_user', 'sessions', ['user_id', 'created_at desc']);
    await createIndex(db, dialect, 'idx_sessions_expires', 'sessions', ['expires_at']);

    await table(db, dialect, 'login_attempts')
      .id()
      .text('kind', { notNull: true, check: oneOf('kind', LOGIN_ATTEMPT_KINDS) })
      // The email as typed (lower-cased), whether or not a user has it; or the address.
      .text('subject', { notNull: true })
      .integer('failures', { notNull: true, check: 'failures >= 0' })
      .timestamp('last_failure_at', { notNull: true })
      .timestamp('locked_until')
      .unique('subject', ['kind', 'subject'])
      .create();
    await createIndex(db, dialect, 'idx_login_attempts_last', 'login_attempts', ['last_failure_at']);
  },
};

/**
 * The table is renamed away with `legacy_alter_table` on, so the foreign keys of the tables
 * pointing at `users` keep naming `users` (and so the new table) rather than following the
 * rename; made again under its own name with 0001's constraint names; rows copied; the old one
 * dropped (with foreign keys off, dropping deletes nothing elsewhere).
 */
async function rebuildUsersOnSqlite(db: Kysely<unknown>, dialect: DialectAdapter): Promise<void> {
  await sql`PRAGMA legacy_alter_table = ON`.execute(db);
  try {
    await sql`ALTER TABLE users RENAME TO users_0001`.execute(db);
  } finally {
    // A connection setting, not part of the transaction: put back even if the rename failed.
    await sql`PRAGMA legacy_alter_table = OFF`.execute(db);
  }
  await table(db, dialect, 'users')
    .id()
    .text('name', { notNull: true })
    .text('email', { notNull: true, unique: true })
    .text('password_hash')
    .text('role', { notNull: true, default: 'member', check: oneOf('role', USER_ROLES) })
    .text('status', { notNull: true, default: 'active', check: oneOf('status', ['active', 'disabled']) })
    .text('open_id')
    .timestamp('last_signed_in_at')
    .timestamps()
    .json('grants', { notNull: true, default: { json: [] } })
    .create();
  const columns = sql.raw(
    [
      'id',
      'name',
      'email',
      'password_hash',
      'role',
      'status',
      'open_id',
      'last_signed_in_at',
      'created_at',
      'updated_at',
    ].join(', '),
  );
  await sql`INSERT INTO users (${columns}) SELECT ${columns} FROM users_0001`.execute(db);
  await sql`DROP TABLE users_0001`.execute(db);
  const broken = await sql<{ table: string }>`PRAGMA foreign_key_check`.execute(db);
  if (broken.rows.length > 0)
    throw new Error(
      `rebuilding users broke ${broken.rows.length} foreign key(s), first in ${broken.rows[0]!.table}`,
    );
}
