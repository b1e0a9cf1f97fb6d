import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { Store } from '../../src/storage/index.js';
import { inlineRows, type InlineColumn } from '../../src/queue/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

const COLUMNS: InlineColumn[] = [
  { name: 'id', type: 'text' },
  { name: 'n', type: 'integer' },
  { name: 'doc', type: 'json' },
  { name: 'note', type: 'text' },
];

interface Row {
  id: string;
  n: number | null;
  doc: string | null;
  note: string | null;
}

describe.each(DIALECTS)('rows inlined as a table on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
  });
  afterAll(async () => {
    await store.close();
    await testDb.drop();
  });

  async function readBack(rows: Array<Partial<Row>>): Promise<Row[]> {
    const { db, dialect: adapter } = store.handle;
    const table = inlineRows<Row>(adapter, COLUMNS, rows as Row[]);
    const result = await sql<Row>`WITH r(id, n, doc, note) AS ${table} SELECT * FROM r ORDER BY id`.execute(
      db,
    );
    return result.rows.map((row) => ({
      id: row.id,
      n: row.n === null ? null : Number(row.n),
      doc: row.doc === null ? null : JSON.stringify(JSON.parse(String(row.doc))),
      note: row.note,
    }));
  }

  it('keeps every row when columns hold the same value in every row, or differ', async () => {
    const rows = [
      { id: 'a', n: 7, doc: '{"k":1}', note: 'same' },
      { id: 'b', n: 7, doc: '{"k":2}', note: 'same' },
      { id: 'c', n: 7, doc: '{"k":3}', note: 'same' },
    ];
    expect(await readBack(rows)).toEqual(rows);
  });

  it('keeps the row count when no column differs between rows', async () => {
    const row = { id: 'x', n: 1, doc: '[1,2]', note: null };
    expect(await readBack([row, row, row])).toEqual([row, row, row]);
  });

  it('tells a null from a value, and a missing value from a present one', async () => {
    const rows = [
      { id: 'a', n: null, doc: null, note: undefined },
      { id: 'b', n: 0, doc: 'null', note: '' },
      { id: 'c', n: null, doc: null },
    ];
    expect(await readBack(rows)).toEqual([
      { id: 'a', n: null, doc: null, note: null },
      { id: 'b', n: 0, doc: 'null', note: '' },
      { id: 'c', n: null, doc: null, note: null },
    ]);
  });

  it('reads one row, and a column that is null in every row', async () => {
    expect(await readBack([{ id: 'only', n: 3, doc: '{}', note: null }])).toEqual([
      { id: 'only', n: 3, doc: '{}', note: null },
    ]);
    const nulls = [
      { id: 'a', n: 1, doc: null, note: null },
      { id: 'b', n: 2, doc: null, note: null },
    ];
    expect(await readBack(nulls)).toEqual(nulls);
  });

  it('keeps each column type: numbers compare as numbers, numeric-looking text stays text', async () => {
    const rows = [
      { id: 'a', n: 7, doc: '{"q":"it\'s \\"x\\""}', note: '007' },
      { id: 'b', n: 12, doc: '[]', note: 'é 😀 \' " \\ end' },
    ];
    expect(await readBack(rows)).toEqual(rows);
    const { db, dialect: adapter } = store.handle;
    const table = inlineRows<Row>(adapter, COLUMNS, rows);
    // As text, '7' > 9 would hold on SQLite (text sorts after numbers) and fail on PostgreSQL.
    const over = await sql<{
      id: string;
    }>`WITH r(id, n, doc, note) AS ${table} SELECT id FROM r WHERE n > 9`.execute(db);
    expect(over.rows.map((row) => row.id)).toEqual(['b']);
  });

  it('leaves rows with bytes to a VALUES list where the dialect cannot carry them in one parameter', () => {
    const { dialect: adapter } = store.handle;
    const select = adapter.rowsAsSelect([{ name: 'b', type: 'blob' }], [{ b: Buffer.from('x') }]);
    expect(select === null).toBe(dialect === 'sqlite');
  });
});
