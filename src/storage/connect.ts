import { sql, type Kysely } from 'kysely';
import { SwarmError } from '../errors/index.js';
import type { DialectAdapter } from './dialect/dialect.js';
import { openPostgres, postgresAdapter } from './dialect/postgres.js';
import { openSqlite, sqliteAdapter } from './dialect/sqlite.js';
import { describeTarget, parseDatabaseUrl, type DatabaseTarget } from './database-url.js';
import type { SwarmDatabase } from './schema-types.js';

/** An open connection (SQLite file or PostgreSQL pool) and the dialect that speaks to it. */
export interface DatabaseHandle {
  readonly db: Kysely<SwarmDatabase>;
  readonly dialect: DialectAdapter;
  readonly target: DatabaseTarget;
  /** Where it points, without credentials. */
  readonly description: string;
  close(): Promise<void>;
}

export interface OpenOptions {
  readonly cwd?: string;
  /** PostgreSQL pool size. @default 10 */
  readonly poolSize?: number;
  /** Open an existing SQLite file read-only (the legacy importer's source). */
  readonly readonly?: boolean;
}

/** Opens the database a URL names and checks that it answers. */
export async function openDatabase(url: string, options: OpenOptions = {}): Promise<DatabaseHandle> {
  const target = parseDatabaseUrl(url, options.cwd);
  let db: Kysely<SwarmDatabase>;
  let dialect: DialectAdapter;
  if (target.dialect === 'sqlite') {
    db = openSqlite<SwarmDatabase>({
      file: target.file,
      synchronous: target.synchronous,
      busyTimeoutMs: 5000,
      readonly: options.readonly ?? false,
    });
    dialect = sqliteAdapter;
  } else {
    db = openPostgres<SwarmDatabase>({
      connectionString: target.connectionString,
      poolSize: options.poolSize ?? 10,
    }).db;
    dialect = postgresAdapter;
  }
  const description = describeTarget(target);
  try {
    await sql`SELECT 1`.execute(db);
  } catch (error) {
    await db.destroy().catch(() => {});
    throw new SwarmError(
      'DB_UNREACHABLE',
      `cannot reach database ${description}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  let closed = false;
  return {
    db,
    dialect,
    target,
    description,
    async close() {
      if (closed) return;
      closed = true;
      await db.destroy();
    },
  };
}
