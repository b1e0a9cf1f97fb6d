import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

// Two write transactions that lock the same two rows in opposite orders: PostgreSQL detects the
// deadlock and rolls one back; writeTransaction runs that one again, so both writes land.
describe.runIf(DIALECTS.includes('postgres'))('a deadlocked write transaction on postgres', () => {
  let testDb: TestDatabase;
  let handle: DatabaseHandle;

  beforeAll(async () => {
    testDb = await createTestDatabase('postgres');
    handle = await openDatabase(testDb.url);
    await sql`CREATE TABLE pair (id int PRIMARY KEY, n int NOT NULL)`.execute(handle.db);
    await sql`INSERT INTO pair VALUES (1, 0), (2, 0)`.execute(handle.db);
  });
  afterAll(async () => {
    await handle?.close();
    await testDb?.drop();
  });

  it('is run again and both writes land', async () => {
    let bothLockedFirst: () => void = () => undefined;
    let locked = 0;
    const firstLocks = new Promise<void>((resolve) => (bothLockedFirst = resolve));
    let runs = 0;
    const write = (first: number, second: number) =>
      handle.dialect.writeTransaction(handle.db, async (trx) => {
        runs++;
        await sql`UPDATE pair SET n = n + 1 WHERE id = ${first}`.execute(trx);
        if (++locked === 2) bothLockedFirst();
        await firstLocks;
        await sql`UPDATE pair SET n = n + 1 WHERE id = ${second}`.execute(trx);
      });
    await Promise.all([write(1, 2), write(2, 1)]);
    const rows = await sql<{ id: number; n: number }>`SELECT id, n FROM pair ORDER BY id`.execute(handle.db);
    expect(rows.rows).toEqual([
      { id: 1, n: 2 },
      { id: 2, n: 2 },
    ]);
    // One of the two was chosen to give way and ran a second time.
    expect(runs).toBe(3);
  });
});
