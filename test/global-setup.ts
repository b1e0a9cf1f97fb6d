import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { Store } from '../src/storage/index.js';
import { adminQuery, TEMPLATE_ENV } from './helpers/databases.js';

/**
 * Says once, at the top of the run, whether the PostgreSQL half of the suite runs, and fails the
 * run at once when TEST_DATABASE_URL names a server that does not answer; then migrates the
 * templates of the tests' databases.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) {
    console.log(
      'PostgreSQL suite: skipped (set TEST_DATABASE_URL=postgres://… to run every storage test on PostgreSQL too)',
    );
    return migratedTemplates();
  }
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ version: string }>('SELECT version()');
    console.log(
      `PostgreSQL suite: enabled on ${url.replace(/:[^:@/]*@/, ':***@')} (${rows[0]?.version.split(',')[0]})`,
    );
  } catch (error) {
    throw new Error(`TEST_DATABASE_URL=${url} does not answer: ${(error as Error).message}`);
  } finally {
    await client.end().catch(() => {});
  }
  return migratedTemplates();
}

/**
 * Migrates one database of each dialect for the whole run; createTestDatabase copies it (a file
 * copy, `CREATE DATABASE … TEMPLATE`) instead of migrating each test's database again, which
 * took 0.1 s on SQLite and 0.4 s on PostgreSQL per database. The test processes find them
 * through the environment, which they inherit from this one.
 */
async function migratedTemplates(): Promise<() => Promise<void>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-template-'));
  const file = path.join(dir, 'swarm.db');
  await (await Store.open(`sqlite:${file}`)).close();
  process.env[TEMPLATE_ENV.sqlite] = file;
  const pgUrl = process.env.TEST_DATABASE_URL;
  const name = `swarm_test_template_${process.pid}`;
  if (pgUrl) {
    await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await adminQuery(`CREATE DATABASE ${name}`);
    const url = new URL(pgUrl);
    url.pathname = `/${name}`;
    await (await Store.open(url.toString())).close();
    process.env[TEMPLATE_ENV.postgres] = name;
  }
  return async () => {
    if (pgUrl) await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    fs.rmSync(dir, { recursive: true, force: true });
  };
}
