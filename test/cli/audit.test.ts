import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { cli } from '../helpers/cli.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

describe.each(DIALECTS)('swarm audit list against a running server on %s', (dialect) => {
  let testDb: TestDatabase;
  let server: RunningServer;
  let env: NodeJS.ProcessEnv;

  beforeEach(async () => {
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
    const file = path.join(testDb.dir, 'hello.json');
    fs.writeFileSync(
      file,
      JSON.stringify({ name: 'hello', version: '1.0.0', steps: [{ id: 'a', agent: 'builtin/noop' }] }),
    );
    const applied = await cli(['workflow', 'apply', file], env);
    expect(applied.code, applied.stderr).toBe(0);
    expect((await cli(['secrets', 'set', 'API_TOKEN', '--value', 'tok-123456'], env)).code).toBe(0);
  });
  afterEach(async () => {
    await server.close();
    await testDb.drop();
  });

  it('prints a table by default, JSON with --json, filtered by action, resource, actor and time', async () => {
    const table = await cli(['audit', 'list'], env);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^TIME\s+ACTOR\s+ACTION\s+RESOURCE\s+FROM\s+OK/);
    expect(table.stdout).toContain('workflow.apply');
    expect(table.stdout).toContain('workflow:hello');
    expect(table.stdout).toContain('secret.set');
    expect(table.stdout).not.toContain('tok-123456');
    // The actor by email, readable at a glance.
    const me = JSON.parse((await cli(['whoami', '--json'], env)).stdout);
    expect(table.stdout).toContain(me.user.email);

    const json = await cli(['audit', 'list', '--json', '--action', 'workflow'], env);
    expect(json.code, json.stderr).toBe(0);
    const rows = JSON.parse(json.stdout);
    expect(rows.map((r: { action: string }) => r.action)).toEqual(['workflow.apply']);
    expect(rows[0]).toMatchObject({ resourceType: 'workflow', resourceId: 'hello', ipAddress: '127.0.0.1' });
    expect(rows[0].userAgent).toMatch(/swarm/i);

    const byResource = await cli(['audit', 'list', '--json', '--resource', 'workflow:hello'], env);
    expect(JSON.parse(byResource.stdout)).toHaveLength(1);
    const mine = await cli(
      ['audit', 'list', '--json', '--actor', 'me', '--since', '1h', '--limit', '2'],
      env,
    );
    expect(mine.code, mine.stderr).toBe(0);
    expect(JSON.parse(mine.stdout)).toHaveLength(2);
    const none = await cli(['audit', 'list', '--action', 'run'], env);
    expect(none.stdout.trim()).toBe('no audit rows');
  });

  it('names the flag of a bad filter', async () => {
    const bad = await cli(['audit', 'list', '--since', 'last tuesday'], env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--since');
    const limit = await cli(['audit', 'list', '--limit', '0'], env);
    expect(limit.code).not.toBe(0);
    expect(limit.stderr).toContain('--limit');
  });

  it('acts for another owner with SWARM_OWNER: her workflows, and the audit log names the admin', async () => {
    const made = await cli(['users', 'create', '--email', 'ada@example.com', '--name', 'Ada', '--json'], env);
    expect(made.code, made.stderr).toBe(0);
    const asAda = { ...env, SWARM_OWNER: 'ada@example.com' };
    // Ada has no workflows yet; the admin's 'hello' is not hers.
    const before = await cli(['workflow', 'list', '--json'], asAda);
    expect(before.code, before.stderr).toBe(0);
    expect(before.stdout).not.toContain('hello');
    const file = path.join(testDb.dir, 'adas.json');
    fs.writeFileSync(
      file,
      JSON.stringify({ name: 'adas', version: '1.0.0', steps: [{ id: 'a', agent: 'builtin/noop' }] }),
    );
    expect((await cli(['workflow', 'apply', file], asAda)).code).toBe(0);
    expect((await cli(['workflow', 'list', '--json'], asAda)).stdout).toContain('adas');
    expect((await cli(['workflow', 'list', '--json'], env)).stdout).not.toContain('adas');
    const rows = JSON.parse(
      (await cli(['audit', 'list', '--json', '--resource', 'workflow:adas'], env)).stdout,
    );
    const me = JSON.parse((await cli(['whoami', '--json'], env)).stdout);
    const ada = JSON.parse(made.stdout);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ actorId: me.user.id, ownerId: ada.user.id });
    const unknown = await cli(['workflow', 'list'], { ...env, SWARM_OWNER: 'nobody@example.com' });
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('X-Swarm-Owner');
  });
});
