import { sql, type Kysely } from 'kysely';
import { SwarmError } from '../errors/index.js';
import type { DatabaseHandle } from './connect.js';
import { MIGRATIONS, type Migration } from './migrations/index.js';

/** Where applied migrations are recorded; never copied between databases. */
export const MIGRATIONS_TABLE = 'swarm_migrations';

export interface MigrationState {
  readonly version: number;
  readonly name: string;
  readonly appliedAt: string | null;
}

export interface SchemaStatus {
  readonly dialect: string;
  readonly database: string;
  readonly currentVersion: number;
  readonly latestVersion: number;
  readonly applied: MigrationState[];
  readonly pending: MigrationState[];
}

type AnyDb = Kysely<Record<string, Record<string, unknown>>>;

async function ensureMigrationsTable(handle: DatabaseHandle): Promise<void> {
  // Under the migration lock: two processes creating the table at once would collide on PostgreSQL.
  await handle.dialect.writeTransaction(handle.db as unknown as Kysely<unknown>, async (db) => {
    await handle.dialect.lockForMigration(db);
    await db.schema
      .createTable(MIGRATIONS_TABLE)
      .ifNotExists()
      .addColumn('version', handle.dialect.type('integer'), (c) => c.primaryKey().notNull())
      .addColumn('name', handle.dialect.type('text'), (c) => c.notNull())
      .addColumn('applied_at', handle.dialect.type('timestamp'), (c) =>
        c.notNull().defaultTo(handle.dialect.nowDefault),
      )
      .execute();
  });
}

async function readApplied(db: Kysely<unknown>): Promise<Map<number, { name: string; applied_at: string }>> {
  const rows = await (db as AnyDb)
    .selectFrom(MIGRATIONS_TABLE)
    .select(['version', 'name', 'applied_at'])
    .orderBy('version')
    .execute();
  return new Map(
    rows.map((r) => [Number(r.version), { name: String(r.name), applied_at: String(r.applied_at) }]),
  );
}

async function hasMigrationsTable(handle: DatabaseHandle): Promise<boolean> {
  const tables = await handle.dialect.listTables(handle.db as unknown as Kysely<unknown>);
  return tables.includes(MIGRATIONS_TABLE);
}

/** Which migrations this database has and lacks. Writes nothing. */
export async function schemaStatus(
  handle: DatabaseHandle,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<SchemaStatus> {
  const applied = (await hasMigrationsTable(handle))
    ? await readApplied(handle.db as unknown as Kysely<unknown>)
    : new Map();
  const latestVersion = migrations.at(-1)?.version ?? 0;
  const known = new Set(migrations.map((m) => m.version));
  const unknown = [...applied.keys()].filter((v) => !known.has(v));
  return {
    dialect: handle.dialect.name,
    database: handle.description,
    currentVersion: Math.max(0, ...applied.keys()),
    latestVersion,
    applied: [
      ...migrations
        .filter((m) => applied.has(m.version))
        .map((m) => ({ version: m.version, name: m.name, appliedAt: applied.get(m.version)!.applied_at })),
      ...unknown.map((v) => ({
        version: v,
        name: applied.get(v)!.name,
        appliedAt: applied.get(v)!.applied_at,
      })),
    ],
    pending: migrations
      .filter((m) => !applied.has(m.version))
      .map((m) => ({ version: m.version, name: m.name, appliedAt: null })),
  };
}

function refuseNewerSchema(status: SchemaStatus): void {
  if (status.currentVersion > status.latestVersion) {
    throw new SwarmError(
      'SCHEMA_TOO_NEW',
      `database ${status.database} is at schema version ${status.currentVersion}, newer than this Swarm knows (${status.latestVersion}); upgrade Swarm`,
    );
  }
}

/**
 * Applies pending migrations, each in its own transaction together with its version row,
 * under a lock so that several processes starting at once apply each exactly once.
 * Refuses a database whose schema is newer than this code.
 */
export async function migrate(
  handle: DatabaseHandle,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<MigrationState[]> {
  refuseNewerSchema(await schemaStatus(handle, migrations));
  await ensureMigrationsTable(handle);
  const done: MigrationState[] = [];
  for (const migration of migrations) {
    const pauseForeignKeys = migration.foreignKeysOff === true && handle.dialect.name === 'sqlite';
    if (pauseForeignKeys) await sql`PRAGMA foreign_keys = OFF`.execute(handle.db);
    const appliedNow = await handle.dialect
      .writeTransaction(handle.db as unknown as Kysely<unknown>, async (trx) => {
        await handle.dialect.lockForMigration(trx);
        // Another process may have applied it while this one waited for the lock.
        if ((await readApplied(trx)).has(migration.version)) return false;
        try {
          await migration.up(trx, handle.dialect);
        } catch (error) {
          throw new SwarmError(
            'MIGRATION_FAILED',
            `migration ${migration.version} (${migration.name}) failed: ${(error as Error).message}`,
            {
              cause: error,
            },
          );
        }
        await (trx as AnyDb)
          .insertInto(MIGRATIONS_TABLE)
          .values({ version: migration.version, name: migration.name })
          .execute();
        return true;
      })
      .finally(async () => {
        if (pauseForeignKeys) await sql`PRAGMA foreign_keys = ON`.execute(handle.db);
      });
    if (appliedNow)
      done.push({ version: migration.version, name: migration.name, appliedAt: new Date().toISOString() });
  }
  return done;
}

/** Throws unless the database is at exactly the schema this code expects. */
export async function assertMigrated(
  handle: DatabaseHandle,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<void> {
  const status = await schemaStatus(handle, migrations);
  refuseNewerSchema(status);
  if (status.pending.length > 0) {
    throw new SwarmError(
      'SCHEMA_OUTDATED',
      `database ${status.database} lacks ${status.pending.length} migration(s) (at ${status.currentVersion}, need ${status.latestVersion}); run \`swarm db migrate\``,
    );
  }
}
