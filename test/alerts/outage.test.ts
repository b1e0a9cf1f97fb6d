import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertDaemon, DEFAULT_ALERT_SETTINGS } from '../../src/alerts/index.js';
import { Store } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { until } from '../helpers/until.js';

/**
 * A server that finds the database unreachable raises `system_error` once it answers again, with
 * how long the outage lasted. PostgreSQL only: a SQLite file does not go away.
 */
describe.skipIf(!DIALECTS.includes('postgres'))('the database unreachable, then back', () => {
  let testDb: TestDatabase;
  let store: Store;
  /** On the server's default database: a database cannot lock out its own session. */
  let server: pg.Client;
  let adminId: string;

  beforeAll(async () => {
    testDb = await createTestDatabase('postgres');
    store = await Store.open(testDb.url);
    adminId = (await store.system.insertUserIfAbsent({ name: 'A', email: 'a@example.com', role: 'admin' }))!
      .id;
    server = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await server.connect();
  });
  afterAll(async () => {
    await server?.end();
    await store?.close();
    await testDb?.drop();
  });

  it('raises one system_error for the first admin, with the outage length, when the database is back', async () => {
    // Its timer never fires in this test: the passes are made by hand.
    const daemon = new AlertDaemon(
      store,
      { ...DEFAULT_ALERT_SETTINGS, intervalMs: 3_600_000 },
      pino({ level: 'silent' }),
    );
    daemon.start();
    try {
      await daemon.pass();
      const name = new URL(testDb.url).pathname.slice(1);
      await server.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS false`);
      try {
        await server.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
          [name],
        );
        await daemon.pass();
        await new Promise((resolve) => setTimeout(resolve, 1100));
        await daemon.pass();
      } finally {
        await server.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS true`);
      }
      const alert = await until('the outage alert', async () => {
        await daemon.pass();
        return store.handle.db
          .selectFrom('alerts')
          .selectAll()
          .where('cause', '=', 'system_error:database_unreachable')
          .executeTakeFirst();
      });
      expect(alert).toMatchObject({
        owner_id: adminId,
        alert_type: 'system_error',
        severity: 'critical',
        count: 1,
      });
      expect(JSON.parse(alert.metadata).seconds).toBeGreaterThanOrEqual(1);
      // Reported once: the next passes find nothing to report.
      await daemon.pass();
      const rows = await store.handle.db.selectFrom('alerts').select('count').execute();
      expect(rows).toEqual([{ count: 1 }]);
    } finally {
      await daemon.stop();
    }
  });
});
