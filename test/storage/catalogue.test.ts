import { describe, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import { migrate, openDatabase, type ColumnInfo, type DatabaseHandle } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS } from '../helpers/databases.js';

async function catalogue(handle: DatabaseHandle): Promise<Record<string, ColumnInfo[]>> {
  const db = handle.db as unknown as Kysely<unknown>;
  const result: Record<string, ColumnInfo[]> = {};
  for (const table of await handle.dialect.listTables(db)) {
    result[table] = (await handle.dialect.listColumns(db, table)).sort((a, b) =>
      a.name.localeCompare(b.name),
    );
  }
  return result;
}

describe.runIf(DIALECTS.includes('postgres'))('the schema on both dialects', () => {
  it('has the same tables and columns, with the same types, nullability and keys, in each catalogue', async () => {
    const sqlite = await createTestDatabase('sqlite');
    const postgres = await createTestDatabase('postgres');
    const handles = [await openDatabase(sqlite.url), await openDatabase(postgres.url)] as const;
    try {
      for (const handle of handles) await migrate(handle);
      const [fromSqlite, fromPostgres] = [await catalogue(handles[0]), await catalogue(handles[1])];
      expect(Object.keys(fromSqlite).length).toBeGreaterThanOrEqual(30);
      expect(Object.keys(fromPostgres)).toEqual(Object.keys(fromSqlite));
      for (const table of Object.keys(fromSqlite))
        expect(fromPostgres[table], table).toEqual(fromSqlite[table]);
      // PostgreSQL keeps the rich types the issue asks for.
      expect(fromPostgres.tasks!.find((c) => c.name === 'input_data')!.type).toBe('json');
      expect(fromPostgres.secrets!.find((c) => c.name === 'encrypted_value')!.type).toBe('blob');
    } finally {
      for (const handle of handles) await handle.close();
      await sqlite.drop();
      await postgres.drop();
    }
  });
});
