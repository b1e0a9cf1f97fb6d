import { sql, type Kysely } from 'kysely';
import type pg from 'pg';
import { SwarmError } from '../errors/index.js';
import type { DialectAdapter } from './dialect/dialect.js';
import { listenWithReconnect, type PgListener } from './dialect/pg-listen.js';
import { openPostgres, postgresAdapter } from './dialect/postgres.js';
import { inProcessSignals, openSqlite, sqliteAdapter } from './dialect/sqlite.js';
import { describeTarget, parseDatabaseUrl, type DatabaseTarget } from './database-url.js';
import type { SwarmDatabase } from './schema-types.js';

/** An open connection (SQLite file or PostgreSQL pool) and the dialect that speaks to it. */
export interface DatabaseHandle {
  readonly db: Kysely<SwarmDatabase>;
  readonly dialect: DialectAdapter;
  readonly target: DatabaseTarget;
  /** Where it points, without credentials. */
  readonly description: string;
  /**
   * Calls `onNotify` with the notification's payload (`''` for none) whenever `channel` is
   * notified (PostgreSQL LISTEN on a connection of its own), so processes wake each other instead
   * of polling; SQLite (one process) signals within the process. Returns a stop function, or null
   * where there is nothing to stop.
   */
  listen(channel: string, onNotify: (payload: string) => void): Promise<(() => Promise<void>) | null>;
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
  let pool: pg.Pool | null = null;
  if (target.dialect === 'sqlite') {
    db = openSqlite<SwarmDatabase>({
      file: target.file,
      synchronous: target.synchronous,
      busyTimeoutMs: 5000,
      readonly: options.readonly ?? false,
    });
    dialect = sqliteAdapter;
  } else {
    ({ db, pool } = openPostgres<SwarmDatabase>({
      connectionString: target.connectionString,
      poolSize: options.poolSize ?? 10,
    }));
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
  const listeners = new Set<PgListener>();
  const signals = new Set<{ channel: string; onNotify: (payload: string) => void }>();
  return {
    db,
    dialect,
    target,
    description,
    async listen(channel, onNotify) {
      if (pool === null) {
        const signal = { channel, onNotify };
        signals.add(signal);
        inProcessSignals.on(channel, onNotify);
        return async () => {
          signals.delete(signal);
          inProcessSignals.off(channel, onNotify);
        };
      }
      // Re-LISTENs on a new connection when PostgreSQL restarts (see pg-listen.ts).
      const listener = await listenWithReconnect(pool, channel, onNotify);
      listeners.add(listener);
      return async () => {
        if (!listeners.delete(listener)) return;
        await listener.stop();
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const listener of listeners) listener.discard();
      listeners.clear();
      for (const { channel, onNotify } of signals) inProcessSignals.off(channel, onNotify);
      signals.clear();
      await db.destroy();
    },
  };
}
