import net from 'node:net';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { startServer } from '../../src/server/index.js';
import { Store } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** Whether something accepts connections on the port. */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Found by the chaos suite: PostgreSQL restarting while `swarm start` was between listening and
 * being ready made a start step fail; the store was closed but the listener was not, so the
 * process neither exited (for its supervisor to restart it) nor worked — it answered every
 * request 500 "driver has already been destroyed". Here the step after listening (creating the
 * admin) fails by a trigger, the same on both dialects.
 */
describe.each(DIALECTS)('a start that fails after listening, on %s', (dialect) => {
  let testDb: TestDatabase;
  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
  });
  afterEach(async () => {
    await testDb.drop();
  });

  it('rejects and stops listening, so the process can exit', async () => {
    const url = dialect === 'postgres' ? testDb.url : `sqlite:${testDb.dir}/swarm.db`;
    const store = await Store.open(url);
    if (dialect === 'sqlite') {
      await sql`CREATE TRIGGER refuse_users BEFORE INSERT ON users BEGIN SELECT RAISE(ABORT, 'users refused'); END`.execute(
        store.handle.db,
      );
    } else {
      await sql`CREATE FUNCTION refuse_users() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'users refused'; END $$`.execute(
        store.handle.db,
      );
      await sql`CREATE TRIGGER refuse_users BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION refuse_users()`.execute(
        store.handle.db,
      );
    }
    await store.close();

    const port = await freePort();
    const start = startServer(
      loadConfig({
        DATABASE_URL: url,
        SWARM_HOME: `${testDb.dir}/home`,
        SWARM_PORT: String(port),
        SWARM_LOG_LEVEL: 'silent',
        SWARM_WORKER: 'false',
        SWARM_TRIGGERS: 'false',
        SWARM_EXAMPLES: 'false',
      }),
    );
    await expect(start).rejects.toThrow(/users refused/);
    expect(await answers(port)).toBe(false);
  });
});
