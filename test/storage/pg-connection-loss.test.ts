import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapAdmin } from '../../src/auth/index.js';
import { buildApp } from '../../src/server/index.js';
import { isDatabaseUnavailable, openDatabase, Store, type DatabaseHandle } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { until } from '../helpers/until.js';

describe('isDatabaseUnavailable', () => {
  const coded = (message: string, fields: Record<string, string>) =>
    Object.assign(new Error(message), fields);
  it('recognises a database that went away, and nothing else', () => {
    expect(isDatabaseUnavailable(coded('the database system is starting up', { code: '57P03' }))).toBe(true);
    expect(
      isDatabaseUnavailable(coded('terminating connection due to administrator command', { code: '57P01' })),
    ).toBe(true);
    expect(isDatabaseUnavailable(coded('connection failure', { code: '08006' }))).toBe(true);
    expect(
      isDatabaseUnavailable(
        coded('database "x" is not currently accepting connections', { code: '55000', severity: 'FATAL' }),
      ),
    ).toBe(true);
    expect(
      isDatabaseUnavailable(
        coded('connect ECONNREFUSED 127.0.0.1:5432', { code: 'ECONNREFUSED', syscall: 'connect' }),
      ),
    ).toBe(true);
    expect(isDatabaseUnavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(
      isDatabaseUnavailable(new Error('wrapped', { cause: new Error('Connection terminated unexpectedly') })),
    ).toBe(true);
    // A statement the database refused is the request's problem or a defect, not an outage.
    expect(
      isDatabaseUnavailable(coded('duplicate key value violates unique constraint', { code: '23505' })),
    ).toBe(false);
    expect(isDatabaseUnavailable(coded('syntax error', { code: '42601', severity: 'ERROR' }))).toBe(false);
    expect(isDatabaseUnavailable(new TypeError('x is undefined'))).toBe(false);
    expect(isDatabaseUnavailable('Connection terminated unexpectedly')).toBe(false);
  });
});

/**
 * A PostgreSQL restart cuts every connection with FATAL 57P01 ("terminating connection due to
 * administrator command"); `pg_terminate_backend` sends the same to one connection. Before the
 * fix, such a cut on a checked-out connection (a LISTEN, or a transaction between statements)
 * was an unhandled 'error' event that killed the process — the chaos suite saw every server and
 * worker exit on `pg_ctlcluster … restart`. PostgreSQL only: SQLite has no connections to lose.
 */
describe.skipIf(!DIALECTS.includes('postgres'))('PostgreSQL connection loss', () => {
  let testDb: TestDatabase;
  let handle: DatabaseHandle;
  /** On the test database: sees its connections, and NOTIFY is per database. */
  let admin: pg.Client;
  /** On the server's default database: a database cannot lock out its own session. */
  let server: pg.Client;
  const database = () => new URL(testDb.url).pathname.slice(1);

  beforeAll(async () => {
    testDb = await createTestDatabase('postgres');
    handle = await openDatabase(testDb.url, { poolSize: 4 });
    admin = new pg.Client({ connectionString: testDb.url });
    await admin.connect();
    server = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await server.connect();
  });
  afterAll(async () => {
    await admin?.end();
    await server?.end();
    await handle?.close();
    await testDb?.drop();
  });

  /** The pids of this database's connections listening on `channel`, as the server sees them. */
  const listeners = async (channel: string): Promise<number[]> => {
    const { rows } = await admin.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query = $2 AND pid <> pg_backend_pid()`,
      [database(), `LISTEN "${channel}"`],
    );
    return rows.map((r) => r.pid);
  };

  it('keeps listening after its connection is cut: a new connection LISTENs, and notifications arrive again', async () => {
    let heard = 0;
    const stop = await handle.listen('swarm_test_cut', () => heard++);
    const [first] = await until('the LISTEN connection', async () => {
      const pids = await listeners('swarm_test_cut');
      return pids.length === 1 ? pids : null;
    });
    await admin.query('SELECT pg_terminate_backend($1)', [first]);
    // Reconnected: one wake-up for what may have been missed while disconnected…
    await until('the wake-up after reconnecting', async () => heard >= 1);
    const [second] = await listeners('swarm_test_cut');
    expect(second).toBeDefined();
    expect(second).not.toBe(first);
    // …and notifications are heard on the new connection.
    const before = heard;
    await admin.query(`NOTIFY "swarm_test_cut"`);
    await until('the notification on the new connection', async () => heard > before);
    await stop?.();
    expect(await listeners('swarm_test_cut')).toEqual([]);
  });

  it('survives its connection being cut in the middle of a transaction, and the next query works', async () => {
    const transaction = handle.db.transaction().execute(async (trx) => {
      const { rows } = await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(trx);
      await admin.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
      // The cut arrives while no query runs on the connection: the case that was fatal.
      await new Promise((resolve) => setTimeout(resolve, 300));
      await sql`SELECT 1`.execute(trx);
    });
    await expect(transaction).rejects.toThrow();
    // The dead connection went out of the pool; a fresh one answers.
    const { rows } = await sql<{ one: number }>`SELECT 1 AS one`.execute(handle.db);
    expect(rows).toEqual([{ one: 1 }]);
  });

  it('answers 503 DB_UNREACHABLE (retryable), not 500, while the database is away, and serves again after', async () => {
    const apiTest = await createTestDatabase('postgres');
    const store = await Store.open(apiTest.url);
    const name = new URL(apiTest.url).pathname.slice(1);
    try {
      const boot = await bootstrapAdmin(store, apiTest.dir, 'http://127.0.0.1:0');
      const app = await buildApp({ store });
      const request = () =>
        app.inject({
          method: 'GET',
          url: '/api/v1/workflows',
          headers: { authorization: `Bearer ${boot!.key}` },
        });
      expect((await request()).statusCode).toBe(200);
      await server.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS false`);
      try {
        await server.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
          [name],
        );
        const res = await request();
        expect(res.statusCode).toBe(503);
        expect(res.json()).toMatchObject({ code: 'DB_UNREACHABLE', status: 503 });
        const hook = await app.inject({ method: 'POST', url: '/hooks/anything', payload: {} });
        expect(hook.statusCode).toBe(503);
      } finally {
        await server.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS true`);
      }
      await until('the API serving again', async () => (await request()).statusCode === 200);
      await app.close();
    } finally {
      await store.close();
      await apiTest.drop();
    }
  });

  it('keeps retrying while the server refuses connections, and listens again once it accepts them', async () => {
    let heard = 0;
    const stop = await handle.listen('swarm_test_down', () => heard++);
    const [first] = await until('the LISTEN connection', async () => {
      const pids = await listeners('swarm_test_down');
      return pids.length === 1 ? pids : null;
    });
    // The database refuses new connections for a while (as a restarting server does).
    await server.query(`ALTER DATABASE "${database()}" ALLOW_CONNECTIONS false`);
    try {
      await admin.query('SELECT pg_terminate_backend($1)', [first]);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(heard).toBe(0);
    } finally {
      await server.query(`ALTER DATABASE "${database()}" ALLOW_CONNECTIONS true`);
    }
    await until('the wake-up after reconnecting', async () => heard >= 1, 30_000);
    const before = heard;
    await admin.query(`NOTIFY "swarm_test_down"`);
    await until('the notification after the outage', async () => heard > before);
    await stop?.();
  });
});
