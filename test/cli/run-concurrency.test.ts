import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { cli } from '../helpers/cli.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

// The first run waits for an event that never comes, so it holds the key's one slot.
const DEFINITION = [
  'name: one-at-a-time',
  'version: 1.0.0',
  'concurrency: { key: input.tenant, limit: 1 }',
  'steps:',
  '  - id: hold',
  '    wait_for: { event: never.happens, timeout: 1h }',
].join('\n');

describe.each(DIALECTS)('run concurrency in the CLI, against a server on %s', (dialect) => {
  let testDb: TestDatabase;
  let server: RunningServer;
  let env: NodeJS.ProcessEnv;
  let file: string;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    const home = path.join(testDb.dir, 'home');
    server = await startServer(
      loadConfig({ DATABASE_URL: testDb.url, SWARM_HOME: home, SWARM_PORT: '0', SWARM_LOG_LEVEL: 'silent' }),
    );
    env = { SWARM_HOME: home, SWARM_URL: server.url };
    file = path.join(testDb.dir, 'one.yaml');
    fs.writeFileSync(file, DEFINITION);
  });
  afterEach(async () => {
    await server.close();
    await testDb.drop();
  });

  it('runs list --status pending and runs show say a run waits for a slot, and why one was cancelled', async () => {
    const first = (await cli(['run', file, '--input', '{"tenant":"acme"}'], env)).stdout.trim();
    const second = (await cli(['run', file, '--input', '{"tenant":"acme"}'], env)).stdout.trim();
    const pending = await cli(['runs', 'list', '--status', 'pending', '--json'], env);
    expect((JSON.parse(pending.stdout) as { id: string }[]).map((r) => r.id)).toEqual([second]);
    const shown = await cli(['runs', 'show', second], env);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain(`${second} one-at-a-time@1.0.0 — pending (attempt 1)`);
    expect(shown.stdout).toContain('concurrency key: "acme" (waiting for a slot)');

    // Cancelling the first frees its slot: the second starts.
    expect((await cli(['runs', 'cancel', first], env)).code).toBe(0);
    const cancelled = await cli(['runs', 'show', first], env);
    expect(cancelled.stdout).toContain('concurrency key: "acme"\n');
    expect(cancelled.stdout).toMatch(/cancelled by .+: cancelled by user/);
    expect((await cli(['runs', 'show', second], env)).stdout).toContain(`— running (attempt 1)`);
  });
});
