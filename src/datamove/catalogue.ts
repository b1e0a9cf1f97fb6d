import {
  CreateTableNode,
  DummyDriver,
  Kysely,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type KyselyPlugin,
} from 'kysely';
import { SwarmError } from '../errors/index.js';
import {
  MIGRATIONS,
  MIGRATIONS_TABLE,
  type ColumnInfo,
  type DatabaseHandle,
  type DialectAdapter,
} from '../storage/index.js';
import type { TableSchema } from './types.js';

/**
 * The order in which the migrations create tables, found by replaying them against a Kysely
 * that only compiles (DummyDriver) and records each CREATE TABLE. Referenced tables are always
 * created before the tables pointing at them, so this order is a safe insertion order and its
 * reverse a safe deletion order (ON DELETE RESTRICT is checked at once even when other foreign
 * keys are deferred). Deriving it keeps new migrations from needing a hand-kept list here.
 */
export async function migrationTableOrder(dialect: DialectAdapter): Promise<string[]> {
  const created: string[] = [];
  const recorder: KyselyPlugin = {
    transformQuery({ node }) {
      if (CreateTableNode.is(node)) created.push(node.table.table.identifier.name);
      return node;
    },
    async transformResult({ result }) {
      return result;
    },
  };
  // The compiler only has to produce some SQL; nothing is sent anywhere.
  const dry = new Kysely<unknown>({
    dialect: {
      createAdapter: () => new SqliteAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (db) => new SqliteIntrospector(db),
      createQueryCompiler: () => new SqliteQueryCompiler(),
    },
    plugins: [recorder],
  });
  try {
    for (const migration of MIGRATIONS) await migration.up(dry, dialect);
  } finally {
    await dry.destroy();
  }
  return [...new Set(created)];
}

/**
 * Every data table of a database (all but the migrations ledger, which each side keeps for
 * itself) with its columns, in migration-creation order; tables no migration creates come last.
 */
export async function readCatalogue(handle: DatabaseHandle): Promise<TableSchema[]> {
  const db = handle.db as unknown as Kysely<unknown>;
  const names = (await handle.dialect.listTables(db)).filter((name) => name !== MIGRATIONS_TABLE);
  const order = await migrationTableOrder(handle.dialect);
  const rank = (name: string) => {
    const index = order.indexOf(name);
    return index === -1 ? order.length : index;
  };
  names.sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  const tables: TableSchema[] = [];
  for (const name of names) {
    const columns = await handle.dialect.listColumns(db, name);
    const id = columns.find((c) => c.name === 'id');
    // Keyset pagination and the row comparison both rely on it.
    if (id === undefined || !id.primaryKey || columns.filter((c) => c.primaryKey).length !== 1) {
      throw new SwarmError(
        'INTERNAL',
        `table ${name} in ${handle.description} has no single-column primary key "id"; every Swarm table has one`,
      );
    }
    tables.push({ name, columns });
  }
  return tables;
}

function describeColumn(column: ColumnInfo): string {
  return `${column.type}${column.nullable ? ' null' : ' not null'}${column.primaryKey ? ' primary key' : ''}`;
}

/**
 * Throws unless both databases have the same data tables with the same columns (name, logical
 * type, nullability, key). Both are at the same migration version by now, so a difference means
 * someone changed a schema by hand, and copying would lose or mangle data.
 */
export function assertSameSchema(
  source: readonly TableSchema[],
  target: readonly TableSchema[],
  names: { from: string; to: string },
): void {
  const problems: string[] = [];
  const targetByName = new Map(target.map((t) => [t.name, t]));
  const sourceNames = new Set(source.map((t) => t.name));
  for (const table of source) {
    const other = targetByName.get(table.name);
    if (other === undefined) {
      problems.push(`table ${table.name} is missing from the target`);
      continue;
    }
    const otherColumns = new Map(other.columns.map((c) => [c.name, c]));
    for (const column of table.columns) {
      const match = otherColumns.get(column.name);
      if (match === undefined) problems.push(`${table.name}.${column.name} is missing from the target`);
      else if (describeColumn(match) !== describeColumn(column))
        problems.push(
          `${table.name}.${column.name} is ${describeColumn(column)} in the source but ${describeColumn(match)} in the target`,
        );
      otherColumns.delete(column.name);
    }
    for (const extra of otherColumns.keys())
      problems.push(`${table.name}.${extra} exists only in the target`);
  }
  for (const table of target) {
    if (!sourceNames.has(table.name)) problems.push(`table ${table.name} exists only in the target`);
  }
  if (problems.length > 0) {
    throw new SwarmError(
      'SCHEMA_MISMATCH',
      `schemas of ${names.from} and ${names.to} differ although both are at the latest version; nothing was copied: ${problems.join('; ')}`,
      { context: { problems } },
    );
  }
}
