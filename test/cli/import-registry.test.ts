import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store } from '../../src/storage/index.js';
import { cli } from '../helpers/cli.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { buildRegistry, expectedCounts } from '../legacy/fixtures.js';

describe.each(DIALECTS)('swarm import-registry on %s', (dialect) => {
  let testDb: TestDatabase;
  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    const store = await Store.open(testDb.url);
    await store.system.insertUserIfAbsent({ name: 'Admin', email: 'admin@example.com', role: 'admin' });
    await store.close();
  });
  afterEach(async () => {
    await testDb.drop();
  });

  it('imports the 8-table variant and prints what it imported per table', async () => {
    const file = path.join(testDb.dir, 'registry.db');
    buildRegistry(file, '003');
    const result = await cli(['import-registry', file, '--database-url', testDb.url]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`imported ${file} (variant 003) for admin@example.com`);
    for (const legacyTable of Object.keys(expectedCounts('003')))
      expect(result.stdout).toMatch(new RegExp(`^${legacyTable}\\s`, 'm'));

    const json = await cli(['import-registry', file, '--json', '--database-url', testDb.url]);
    const report = JSON.parse(json.stdout) as {
      tables: Array<{ found: number; imported: number; skipped: number }>;
    };
    for (const t of report.tables) expect(t.imported + t.skipped).toBe(t.found);
    expect(report.tables.every((t) => t.imported === 0)).toBe(true);
  });

  it.each([
    [
      'a missing file',
      () => '/nonexistent/registry.db',
      /^swarm: registry file not found: \/nonexistent\/registry.db \[REGISTRY_NOT_FOUND\]$/,
    ],
    [
      'a corrupt file',
      (dir: string) => {
        const file = path.join(dir, 'corrupt.db');
        fs.writeFileSync(file, Buffer.alloc(4096, 0xab));
        return file;
      },
      /^swarm: not a SQLite database: .*corrupt\.db \(file is not a database\) \[REGISTRY_INVALID\]$/,
    ],
  ])('refuses %s with one line and exit 1', async (_name, make, message) => {
    const result = await cli(['import-registry', make(testDb.dir), '--database-url', testDb.url]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toMatch(message);
    expect(result.stdout).toBe('');
  });

  it('needs the registry argument', async () => {
    const result = await cli(['import-registry']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/missing required argument 'registry.db'/);
  });
});
