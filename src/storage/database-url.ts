import path from 'node:path';
import { SwarmError } from '../errors/index.js';
import type { SqliteSynchronous } from './dialect/sqlite.js';

export type DatabaseTarget =
  | { readonly dialect: 'sqlite'; readonly file: string; readonly synchronous: SqliteSynchronous }
  | { readonly dialect: 'postgres'; readonly connectionString: string };

const SYNCHRONOUS = new Set<SqliteSynchronous>(['OFF', 'NORMAL', 'FULL', 'EXTRA']);

/**
 * Reads a database URL: `postgres://…` / `postgresql://…` for PostgreSQL; `sqlite:PATH`,
 * `sqlite://PATH`, `file:PATH` or a bare path for SQLite (`?synchronous=normal` optional).
 */
export function parseDatabaseUrl(url: string, cwd: string = process.cwd()): DatabaseTarget {
  const trimmed = url.trim();
  if (trimmed === '') throw new SwarmError('DB_URL_INVALID', 'database URL is empty');
  if (/^postgres(ql)?:\/\//i.test(trimmed)) {
    try {
      new URL(trimmed);
    } catch {
      throw new SwarmError('DB_URL_INVALID', `not a valid PostgreSQL URL: ${redactDatabaseUrl(trimmed)}`);
    }
    return { dialect: 'postgres', connectionString: trimmed };
  }
  let rest: string;
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(trimmed)?.[1]?.toLowerCase();
  if (scheme === 'sqlite' || scheme === 'file') {
    rest = trimmed.slice(scheme.length + 1).replace(/^\/\//, '');
  } else if (scheme !== undefined && scheme.length > 1) {
    throw new SwarmError(
      'DB_URL_INVALID',
      `unsupported database URL scheme "${scheme}:" (use postgres://… or a SQLite path)`,
    );
  } else {
    rest = trimmed;
  }
  const [filePart = '', query = ''] = rest.split('?', 2);
  if (filePart === '') throw new SwarmError('DB_URL_INVALID', `SQLite URL has no file path: ${url}`);
  const params = new URLSearchParams(query);
  const synchronous = (params.get('synchronous') ?? 'FULL').toUpperCase() as SqliteSynchronous;
  if (!SYNCHRONOUS.has(synchronous)) {
    throw new SwarmError(
      'DB_URL_INVALID',
      `synchronous must be one of off, normal, full, extra: got "${params.get('synchronous')}"`,
    );
  }
  const file = filePart === ':memory:' ? ':memory:' : path.resolve(cwd, decodeURIComponent(filePart));
  return { dialect: 'sqlite', file, synchronous };
}

/** The URL with any password replaced, fit for logs and error messages. */
export function redactDatabaseUrl(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');
}

export function describeTarget(target: DatabaseTarget): string {
  return target.dialect === 'sqlite' ? `sqlite:${target.file}` : redactDatabaseUrl(target.connectionString);
}
