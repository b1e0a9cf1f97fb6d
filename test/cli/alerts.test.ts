import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raise } from '../../src/alerts/index.js';
import { loadConfig } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { cli } from '../helpers/cli.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

describe.each(DIALECTS)('swarm alerts on %s', (dialect) => {
  let testDb: TestDatabase;
  let server: RunningServer;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    const base = {
      DATABASE_URL: testDb.url,
      SWARM_HOME: path.join(testDb.dir, 'home'),
      SWARM_PORT: '0',
      SWARM_LOG_LEVEL: 'silent',
      SWARM_EXAMPLES: 'false',
      SWARM_MASTER_KEY: randomBytes(32).toString('base64'),
    };
    server = await startServer(loadConfig(base));
    env = { ...base, SWARM_URL: server.url };
  });
  afterAll(async () => {
    await server.close();
    await testDb.drop();
  });

  it('lists open alerts (all with --all), resolves one by id; bad input names the flag', async () => {
    expect((await cli(['alerts', 'list'], env)).stdout).toContain('no open alerts');
    const { db, dialect: d } = server.store.handle;
    const ownerId = server.bootstrapped!.user.id;
    const raised = await d.writeTransaction(db, (trx) =>
      raise(trx, d, {
        ownerId,
        type: 'agent_failure',
        severity: 'critical',
        cause: 'agent_failure:flaky@1.0.0',
        title: 'agent flaky@1.0.0 failed 5 tasks in a row',
        count: 5,
      }),
    );
    const id = raised!.alert.id;
    const listed = await cli(['alerts', 'list'], env);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/critical\s+agent_failure\s+5\s+open/);
    expect(
      JSON.parse((await cli(['alerts', 'list', '--json', '--type', 'agent_failure'], env)).stdout),
    ).toMatchObject([{ id, count: 5, resolved: false }]);
    expect(
      JSON.parse((await cli(['alerts', 'list', '--json', '--type', 'task_timeout'], env)).stdout),
    ).toEqual([]);

    for (const [argv, flag] of [
      [['alerts', 'list', '--type', 'nope'], '--type'],
      [['alerts', 'list', '--limit', '0'], '--limit'],
    ] as const) {
      const bad = await cli([...argv], env);
      expect(bad.code, argv.join(' ')).not.toBe(0);
      expect(bad.stderr).toContain(flag);
    }
    const missing = await cli(['alerts', 'resolve', 'no-such-alert'], env);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/alert not found/);

    const resolved = await cli(['alerts', 'resolve', id], env);
    expect(resolved.code, resolved.stderr).toBe(0);
    expect(resolved.stdout).toContain(`resolved ${id}`);
    expect((await cli(['alerts', 'list'], env)).stdout).toContain('no open alerts');
    const all = await cli(['alerts', 'list', '--all'], env);
    expect(all.stdout).toMatch(/resolved \(/);
  });
});
