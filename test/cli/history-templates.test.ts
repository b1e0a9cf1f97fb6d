import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { cli } from '../helpers/cli.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { until } from '../helpers/until.js';

describe.each(DIALECTS)('swarm templates and swarm history against a running server on %s', (dialect) => {
  let testDb: TestDatabase;
  let server: RunningServer;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    const home = path.join(testDb.dir, 'home');
    server = await startServer(
      loadConfig({
        DATABASE_URL: testDb.url,
        SWARM_HOME: home,
        SWARM_PORT: '0',
        SWARM_LOG_LEVEL: 'silent',
        SWARM_EXAMPLES: 'false',
      }),
    );
    env = { SWARM_HOME: home, SWARM_URL: server.url };
  });
  afterAll(async () => {
    await server.close();
    await testDb.drop();
  });

  it('lists templates, prints and applies one, and names a missing parameter', async () => {
    const list = await cli(['templates', 'list'], env);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^NAME\s+PATTERN\s+SOURCE\s+PARAMETERS/);
    expect(list.stdout).toMatch(/hierarchical\s+hierarchical\s+built-in\s+name, coordinator\*, pool\*/);

    const sets = ['--set', 'name=chain', '--set', 'first=builtin/transform', '--set', 'second=builtin/noop'];
    const printed = await cli(['templates', 'use', 'sequential', ...sets, '--print'], env);
    expect(printed.code, printed.stderr).toBe(0);
    expect(JSON.parse(printed.stdout)).toMatchObject({
      name: 'chain',
      steps: [{ agent: 'builtin/transform' }, {}],
    });
    // --print stores nothing.
    expect((await cli(['workflow', 'show', 'chain'], env)).code).not.toBe(0);

    const applied = await cli(['templates', 'use', 'sequential', ...sets], env);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain('created workflow chain@1.0.0 from template sequential');

    const missing = await cli(['templates', 'use', 'hierarchical', '--set', 'pool=a,b'], env);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/parameters\.coordinator/);
    expect((await cli(['templates', 'use', 'sequential', '--set', 'oops'], env)).stderr).toMatch(/--set/);
  });

  it('shows a finished run in the history once the server has archived it', async () => {
    const run = await cli(['run', 'chain', '--json'], env);
    expect(run.code, run.stderr).toBe(0);
    const id = JSON.parse(run.stdout).id as string;
    const listed = await until(
      'the run archived',
      async () => {
        const out = await cli(['history', 'list', '--workflow', 'chain', '--json'], env);
        const items = JSON.parse(out.stdout) as { runId: string }[];
        return items.some((i) => i.runId === id) ? out : null;
      },
      // The server archives every 5 s. Each look is a request under the key's limit of 60 a
      // minute: looking every 25 ms, the test spent up to 50 s waiting out a 429's Retry-After.
      60_000,
      500,
    );
    expect(listed.code).toBe(0);
    const table = await cli(['history', 'list'], env);
    expect(table.stdout).toMatch(/^RUN\s+WORKFLOW\s+STATUS/);
    expect(table.stdout).toContain(id);
    const shown = await cli(['history', 'show', id], env);
    expect(shown.code, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ runId: id, status: 'completed', metrics: { steps: 2 } });
    expect((await cli(['history', 'show', 'no-such-run'], env)).code).not.toBe(0);
  }, 120_000);
});
