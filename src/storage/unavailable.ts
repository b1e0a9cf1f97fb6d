/**
 * Whether an error says the database could not be reached or went away mid-request (a
 * PostgreSQL restart, failover or network cut) rather than refusing what was asked. Such a
 * request did nothing wrong and may succeed when sent again: the API answers 503
 * DB_UNREACHABLE (retryable), not 500 INTERNAL.
 *
 * Recognised: any error of severity FATAL (the server ended the session); SQLSTATE class 08 (connection exception), 57P01–57P03 (admin/crash shutdown,
 * cannot connect now: "the database system is starting up / shutting down"), 53300 (too many
 * connections); node-postgres's own words for a connection that ended or broke; and socket
 * errors on connecting to or reading from the server.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const { code, syscall, severity } = e as Error & {
      code?: unknown;
      syscall?: unknown;
      severity?: unknown;
    };
    // FATAL ends the session: the server refused or dropped the connection, whatever the code
    // (shutting down, starting up, not accepting connections to this database, too many clients).
    if (severity === 'FATAL' || severity === 'PANIC') return true;
    if (typeof code === 'string') {
      if (/^08[0-9A-Z]{3}$/.test(code) || ['57P01', '57P02', '57P03', '53300'].includes(code)) return true;
      if (
        ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH'].includes(code) &&
        (syscall === 'connect' || syscall === 'read' || syscall === 'write')
      )
        return true;
    }
    if (PG_CONNECTION_MESSAGES.some((m) => e.message.startsWith(m))) return true;
  }
  return false;
}

// node-postgres (pg, pg-pool) throws these as plain Errors, without a code.
const PG_CONNECTION_MESSAGES = [
  'Connection terminated unexpectedly',
  'Connection terminated due to connection timeout',
  'Client has encountered a connection error and is not queryable',
  'timeout exceeded when trying to connect',
];

/**
 * Whether a statement failed for a reason that passes by itself: the database was unavailable
 * (isDatabaseUnavailable), a serialization failure or a deadlock (40001, 40P01: one of two
 * transactions is chosen to give way), or SQLite busy past its timeout. The same write sent
 * again later may succeed, so such an error says nothing about what was being written.
 */
export function isTransientDatabaseError(error: unknown): boolean {
  if (isDatabaseUnavailable(error)) return true;
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const { code } = e as Error & { code?: unknown };
    if (code === '40001' || code === '40P01' || code === 'SQLITE_BUSY') return true;
  }
  return false;
}
