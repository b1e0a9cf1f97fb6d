import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { cli } from '../helpers/cli.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { startSmtp, type TestSmtp } from '../helpers/smtp.js';

describe.each(DIALECTS)('swarm connectors on %s', (dialect) => {
  let testDb: TestDatabase;
  let server: RunningServer;
  let smtp: TestSmtp;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    smtp = await startSmtp();
    const base = {
      DATABASE_URL: testDb.url,
      SWARM_HOME: path.join(testDb.dir, 'home'),
      SWARM_PORT: '0',
      SWARM_LOG_LEVEL: 'silent',
      SWARM_EXAMPLES: 'false',
      SWARM_MASTER_KEY: randomBytes(32).toString('base64'),
      // The test's SMTP server is on loopback.
      SWARM_ALLOW_PRIVATE_NETWORKS: 'true',
    };
    server = await startServer(loadConfig(base));
    env = { ...base, SWARM_URL: server.url };
  });
  afterAll(async () => {
    await server?.close();
    await smtp?.close();
    await testDb?.drop();
  });

  it('adds (from JSON or @file), lists, tests and removes connectors; bad input names the flag or field', async () => {
    const file = path.join(testDb.dir, 'mail.json');
    fs.writeFileSync(
      file,
      JSON.stringify({ host: '127.0.0.1', port: smtp.port, tls: 'none', from: 'swarm@example.com' }),
    );
    const added = await cli(['connectors', 'add', 'mail', '--type', 'smtp', '--config', `@${file}`], env);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toContain('added smtp connector mail');
    const api = await cli(
      ['connectors', 'add', 'api', '--type', 'http', '--config', '{"base_url":"https://api.example.com"}'],
      env,
    );
    expect(api.code, api.stderr).toBe(0);

    const listed = await cli(['connectors', 'list'], env);
    expect(listed.stdout).toMatch(/api\s+http\s+https:\/\/api\.example\.com/);
    expect(listed.stdout).toMatch(new RegExp(`mail\\s+smtp\\s+127\\.0\\.0\\.1:${smtp.port} \\(none\\)`));
    expect(JSON.parse((await cli(['connectors', 'list', '--json'], env)).stdout)).toHaveLength(2);

    const ok = await cli(['connectors', 'test', 'mail'], env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^ok: /);

    await cli(
      [
        'connectors',
        'add',
        'dead',
        '--type',
        'smtp',
        '--config',
        '{"host":"127.0.0.1","port":1,"tls":"none","from":"a@b.c"}',
      ],
      env,
    );
    const dead = await cli(['connectors', 'test', 'dead'], env);
    expect(dead.code).not.toBe(0);
    expect(dead.stderr).toMatch(/does not work: .*ECONNREFUSED/);

    for (const [argv, what] of [
      [['connectors', 'add', 'x', '--type', 'ftp', '--config', '{}'], '--type'],
      [['connectors', 'add', 'x', '--type', 'http', '--config', 'not json'], '--config'],
      [
        [
          'connectors',
          'add',
          'x',
          '--type',
          'smtp',
          '--config',
          '{"host":"h","port":0,"tls":"none","from":"a@b.c"}',
        ],
        'config.port',
      ],
      [['connectors', 'add', 'Bad', '--type', 'http', '--config', '{}'], '<name>'],
      [['connectors', 'add', 'mail', '--type', 'smtp', '--config', `@${file}`], 'exists already'],
      [['connectors', 'rm', 'nope'], 'connector not found'],
    ] as const) {
      const bad = await cli([...argv], env);
      expect(bad.code, argv.join(' ')).not.toBe(0);
      expect(bad.stderr, argv.join(' ')).toContain(what);
      expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    }

    const removed = await cli(['connectors', 'rm', 'mail'], env);
    expect(removed.code, removed.stderr).toBe(0);
    expect((await cli(['connectors', 'list'], env)).stdout).not.toContain('mail');
  });
});
