import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { Store } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

const mode = (file: string) => fs.statSync(file).mode & 0o777;

describe.each(DIALECTS)('files Swarm makes are private from the start on %s', (dialect) => {
  let testDb: TestDatabase;
  let server: RunningServer | undefined;
  let umask: number;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    // The usual umask, which leaves new files readable by everyone unless Swarm says otherwise.
    umask = process.umask(0o022);
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
    process.umask(umask);
    await testDb.drop();
  });

  it('makes a fresh SWARM_HOME 0700 and everything in it 0600', async () => {
    const home = path.join(testDb.dir, 'new', 'home');
    server = await startServer(
      loadConfig({
        ...(dialect === 'postgres' ? { DATABASE_URL: testDb.url } : {}),
        SWARM_HOME: home,
        SWARM_PORT: '0',
        SWARM_LOG_LEVEL: 'silent',
        SWARM_WORKER: 'false',
        SWARM_TRIGGERS: 'false',
      }),
    );
    expect(mode(home)).toBe(0o700);
    const files = fs.readdirSync(home);
    expect(files).toEqual(expect.arrayContaining(['credentials', 'signing.key']));
    if (dialect === 'sqlite')
      expect(files).toEqual(expect.arrayContaining(['swarm.db', 'swarm.db-wal', 'swarm.db-shm']));
    for (const file of files) {
      const full = path.join(home, file);
      expect([file, mode(full)]).toEqual([file, fs.statSync(full).isDirectory() ? 0o700 : 0o600]);
    }
  });

  it.runIf(dialect === 'sqlite')(
    'creates a SQLite file and its -wal and -shm 0600 wherever it is',
    async () => {
      const file = path.join(testDb.dir, 'elsewhere', 'data.db');
      const store = await Store.open(`sqlite:${file}`);
      try {
        expect(mode(path.dirname(file))).toBe(0o700);
        for (const suffix of ['', '-wal', '-shm'])
          expect([suffix, mode(file + suffix)]).toEqual([suffix, 0o600]);
      } finally {
        await store.close();
      }
      // An existing file keeps the mode its owner chose.
      fs.chmodSync(file, 0o640);
      const again = await Store.open(`sqlite:${file}`);
      await again.close();
      expect(mode(file)).toBe(0o640);
    },
  );
});
