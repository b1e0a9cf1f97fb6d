import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export type TestDialect = 'sqlite' | 'postgres';

const PG_URL = process.env.TEST_DATABASE_URL;

/**
 * The dialects every storage test runs on: SQLite always, PostgreSQL when TEST_DATABASE_URL
 * names a server (CI always sets it, so the PostgreSQL suite cannot skip silently there).
 */
export const DIALECTS: readonly TestDialect[] = PG_URL ? ['sqlite', 'postgres'] : ['sqlite'];

export interface TestDatabase {
  readonly dialect: TestDialect;
  /** A DATABASE_URL for a fresh, empty database of its own. */
  readonly url: string;
  /** A scratch folder for this database's test (SWARM_HOME and the like). */
  readonly dir: string;
  drop(): Promise<void>;
}

/**
 * A fresh database of its own: a new SQLite file, or a new PostgreSQL database on the test
 * server. Migrated (a copy of the template test/global-setup.ts migrated once per run: opening
 * it migrates nothing) unless `empty` — for the tests of migrations themselves.
 */
export async function createTestDatabase(
  dialect: TestDialect,
  options: { readonly empty?: boolean } = {},
): Promise<TestDatabase> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-test-'));
  const template = options.empty === true ? undefined : migratedTemplate(dialect);
  if (dialect === 'sqlite') {
    if (template !== undefined) fs.copyFileSync(template, path.join(dir, 'swarm.db'));
    return {
      dialect,
      url: `sqlite:${path.join(dir, 'swarm.db')}`,
      dir,
      async drop() {
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  if (!PG_URL) throw new Error('TEST_DATABASE_URL is not set');
  const name = `swarm_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name}${template === undefined ? '' : ` TEMPLATE ${template}`}`);
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return {
    dialect,
    url: url.toString(),
    dir,
    async drop() {
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Where global-setup.ts put the migrated templates (a SQLite file, a PostgreSQL database). */
export const TEMPLATE_ENV = {
  sqlite: 'SWARM_TEST_SQLITE_TEMPLATE',
  postgres: 'SWARM_TEST_PG_TEMPLATE',
} as const;

function migratedTemplate(dialect: TestDialect): string | undefined {
  const template = process.env[TEMPLATE_ENV[dialect]];
  // A test file run without the global setup (an editor's runner) starts from empty, as before.
  return template === undefined || template === '' ? undefined : template;
}

export async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}
