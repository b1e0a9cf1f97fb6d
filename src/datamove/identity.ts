import fs from 'node:fs';
import { sql } from 'kysely';
import { InputError } from '../errors/index.js';
import { describeTarget, type DatabaseHandle, type DatabaseTarget } from '../storage/index.js';

/**
 * Copying a database onto itself would either deadlock (SQLite) or, with `overwrite`, delete
 * what it is about to read. Two checks: the URLs before anything is opened (no connection, no
 * file created), then what the servers say once both are open, which also catches two spellings
 * of one database (a symlinked path, `localhost` vs `127.0.0.1`, another user name).
 */
function refuse(from: string, to: string, detail: string): never {
  throw new InputError(
    'to',
    `${to} is the same database as the source ${from} (${detail}); copy to another database`,
  );
}

function realPath(file: string): string {
  try {
    return fs.realpathSync.native(file);
  } catch {
    return file;
  }
}

/** Host, port and database name of a PostgreSQL URL, ignoring user, password and parameters. */
function postgresAddress(connectionString: string): string {
  const url = new URL(connectionString);
  const database = decodeURIComponent(url.pathname.replace(/^\//, '')) || decodeURIComponent(url.username);
  return `${url.hostname.toLowerCase()}:${url.port || '5432'}/${database}`;
}

export function refuseSameTargetByUrl(from: DatabaseTarget, to: DatabaseTarget): void {
  const [a, b] = [describeTarget(from), describeTarget(to)];
  if (a === b) refuse(a, b, 'same URL');
  if (from.dialect === 'sqlite' && to.dialect === 'sqlite') {
    if (from.file !== ':memory:' && realPath(from.file) === realPath(to.file)) refuse(a, b, 'same file');
  }
  if (from.dialect === 'postgres' && to.dialect === 'postgres') {
    if (postgresAddress(from.connectionString) === postgresAddress(to.connectionString))
      refuse(a, b, 'same host, port and database');
  }
}

async function identity(handle: DatabaseHandle): Promise<string | null> {
  if (handle.target.dialect === 'sqlite') {
    return handle.target.file === ':memory:' ? null : `sqlite:${realPath(handle.target.file)}`;
  }
  // The server's start time tells two servers on the same port apart; the address is left out
  // so a Unix socket and TCP to the same server compare equal.
  const result = await sql<{ db: string; port: number | null; started: string }>`
    SELECT current_database() AS db, inet_server_port() AS port,
      pg_postmaster_start_time()::text AS started`.execute(handle.db);
  const row = result.rows[0];
  return row === undefined ? null : `postgres:${row.started}:${row.port ?? ''}/${row.db}`;
}

export async function refuseSameTargetByIdentity(from: DatabaseHandle, to: DatabaseHandle): Promise<void> {
  if (from.dialect.name !== to.dialect.name) return;
  const [a, b] = await Promise.all([identity(from), identity(to)]);
  if (a !== null && a === b) refuse(from.description, to.description, 'the server reports the same database');
}
