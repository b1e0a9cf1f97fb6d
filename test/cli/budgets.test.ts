import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { cli } from '../helpers/cli.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

describe.each(DIALECTS)('swarm budgets on %s', (dialect) => {
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
      SWARM_MASTER_KEY: randomBytes(32).toString('base64'),
    };
    server = await startServer(loadConfig(base));
    env = { ...base, SWARM_URL: server.url };
  });
  afterAll(async () => {
    await server.close();
    await testDb.drop();
  });

  it('sets, lists and removes budgets; bad input names the flag and changes nothing', async () => {
    expect((await cli(['budgets', 'list'], env)).stdout).toContain('no budgets');
    const set = await cli(['budgets', 'set', 'day', '--tokens', '50000', '--cost-usd', '2.5'], env);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toContain('budget per day: 50000 tokens, $2.5');
    const listed = await cli(['budgets', 'list', '--json'], env);
    expect(JSON.parse(listed.stdout)).toMatchObject([{ period: 'day', tokens: 50000, costUsd: 2.5 }]);

    for (const [argv, flag] of [
      [['budgets', 'set', 'week', '--tokens', '5'], 'PERIOD'],
      [['budgets', 'set', 'month', '--tokens', '0'], '--tokens'],
      [['budgets', 'set', 'month', '--tokens', '1.5'], '--tokens'],
      [['budgets', 'set', 'month', '--cost-usd', 'lots'], '--cost-usd'],
      [['budgets', 'set', 'month'], '--tokens'],
    ] as const) {
      const bad = await cli([...argv], env);
      expect(bad.code, argv.join(' ')).not.toBe(0);
      expect(bad.stderr).toContain(flag);
    }
    expect(JSON.parse((await cli(['budgets', 'list', '--json'], env)).stdout)).toHaveLength(1);

    expect((await cli(['budgets', 'rm', 'day'], env)).code).toBe(0);
    const again = await cli(['budgets', 'rm', 'day'], env);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/budget/);
  });
});
