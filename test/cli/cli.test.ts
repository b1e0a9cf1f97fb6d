import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../src/storage/index.js';

/** The schema version: the last migration's number (numbers may skip one another branch took). */
const LATEST = MIGRATIONS.at(-1)!.version;
import { cli } from '../helpers/cli.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

describe('swarm CLI basics', () => {
  it('prints help for every command and exits 0', async () => {
    const top = await cli(['--help']);
    expect(top.code).toBe(0);
    for (const command of ['start', 'db', 'import-registry']) expect(top.stdout).toContain(command);
    for (const argv of [
      ['db', '--help'],
      ['db', 'copy', '--help'],
      ['start', '--help'],
      ['import-registry', '--help'],
    ]) {
      const result = await cli(argv);
      expect(result.code, argv.join(' ')).toBe(0);
      expect(result.stdout).toMatch(/Usage: swarm/);
    }
  });

  it('rejects an unknown command or flag with one line and exit 2', async () => {
    const unknown = await cli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim().split('\n')[0]).toMatch(/^swarm: unknown command 'frobnicate'/);
    const flag = await cli(['db', 'migrate', '--bogus']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/^swarm: unknown option '--bogus'/);
  });

  it('names the missing required flag of db copy', async () => {
    const result = await cli(['db', 'copy', '--from', 'sqlite:/tmp/x.db']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--to <url>/);
  });

  it.each([
    [
      ['db', 'migrate', '--database-url', 'mysql://root@localhost/x'],
      /unsupported database URL scheme "mysql:" .*\[DB_URL_INVALID\]/,
    ],
    [
      ['db', 'status', '--database-url', 'postgres://postgres@127.0.0.1:1/none'],
      /cannot reach database .*\[DB_UNREACHABLE\]/,
    ],
    [
      ['db', 'status', '--database-url', 'sqlite:/tmp/x.db?synchronous=sometimes'],
      /synchronous must be one of/,
    ],
    [['start', '--port', 'http'], /--port: must be an integer/],
  ])('fails %j with a one-line error and exit 1', async (argv, message) => {
    const result = await cli(argv);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('names a bad environment variable', async () => {
    const result = await cli(['start'], { SWARM_PORT: 'seventy' });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^swarm: SWARM_PORT: must be an integer/);
  });

  it('prints the password-free form of a PostgreSQL URL in errors', async () => {
    const result = await cli(['db', 'status', '--database-url', 'postgres://u:hunter2@127.0.0.1:1/db']);
    expect(result.stderr).not.toContain('hunter2');
    expect(result.stderr).toContain('postgres://u:***@127.0.0.1:1/db');
  });
});

describe.each(DIALECTS)('swarm db on %s', (dialect) => {
  let testDb: TestDatabase;
  beforeEach(async () => {
    testDb = await createTestDatabase(dialect, { empty: true });
  });
  afterEach(async () => {
    await testDb.drop();
  });

  it('migrates, reports status, and is idempotent', async () => {
    const before = await cli(['db', 'status', '--json', '--database-url', testDb.url]);
    expect(before.code).toBe(0);
    expect(JSON.parse(before.stdout)).toMatchObject({
      dialect,
      currentVersion: 0,
      pending: expect.any(Array),
    });

    const first = await cli(['db', 'migrate', '--database-url', testDb.url]);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`now at schema version ${LATEST}`);
    expect(first.stdout.match(/^applied /gm)).toHaveLength(MIGRATIONS.length);

    const again = await cli(['db', 'migrate', '--json', '--database-url', testDb.url]);
    expect(JSON.parse(again.stdout)).toMatchObject({ applied: [], version: LATEST });

    const status = await cli(['db', 'status', '--database-url', testDb.url]);
    expect(status.stdout).toContain(`version ${LATEST} of ${LATEST}`);
    expect(status.stdout).not.toContain('pending');
  });

  it('uses DATABASE_URL when no flag is given', async () => {
    const result = await cli(['db', 'migrate', '--json'], { DATABASE_URL: testDb.url });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).version).toBe(LATEST);
  });
});
