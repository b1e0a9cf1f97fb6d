import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { cli } from '../helpers/cli.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

describe.each(DIALECTS)('swarm task against a running server on %s', (dialect) => {
  let testDb: TestDatabase;
  let server: RunningServer;
  let env: NodeJS.ProcessEnv;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    const home = path.join(testDb.dir, 'home');
    server = await startServer(
      loadConfig({ DATABASE_URL: testDb.url, SWARM_HOME: home, SWARM_PORT: '0', SWARM_LOG_LEVEL: 'silent' }),
    );
    env = { SWARM_HOME: home, SWARM_URL: server.url };
  });
  afterEach(async () => {
    await server.close();
    await testDb.drop();
  });

  it('submits a task and waits for it, then shows, lists and (refuses to) cancel it', async () => {
    const inputFile = path.join(testDb.dir, 'in.json');
    fs.writeFileSync(inputFile, '{"n":1}');
    const submitted = await cli(
      [
        'task',
        'submit',
        '--agent',
        'builtin/transform',
        '--input',
        `@${inputFile}`,
        '--priority',
        '8',
        '--wait',
      ],
      env,
    );
    expect(submitted.code, submitted.stderr).toBe(0);
    expect(submitted.stdout).toMatch(/^task \S+ submitted$/m);
    expect(submitted.stdout).toMatch(/^COMPLETED in \d+ ms: \{"n":1\}$/m);
    const id = /^task (\S+) submitted$/m.exec(submitted.stdout)![1]!;

    const shown = await cli(['task', 'show', id, '--json'], env);
    expect(JSON.parse(shown.stdout)).toMatchObject({
      id,
      status: 'COMPLETED',
      priority: 8,
      result: { n: 1 },
    });
    const text = await cli(['task', 'show', id], env);
    expect(text.stdout).toMatch(new RegExp(`^${id} builtin/transform@1\\.0\\.0 — COMPLETED, attempt 1/4`));

    const listed = await cli(['task', 'list', '--status', 'completed', '--json'], env);
    expect(JSON.parse(listed.stdout).map((t: { id: string }) => t.id)).toEqual([id]);
    expect((await cli(['task', 'list'], env)).stdout).toMatch(/^ID\s+AGENT \/ CAPABILITY/);

    const cancel = await cli(['task', 'cancel', id], env);
    expect(cancel.code).toBe(1);
    expect(cancel.stderr).toMatch(/already ended COMPLETED \[CONFLICT\]/);

    const queued = await cli(
      ['task', 'submit', '--agent', 'builtin/noop', '--expires-at', '2000-01-01T00:00:00Z', '--json'],
      env,
    );
    expect(JSON.parse(queued.stdout)).toMatchObject({ status: 'PENDING' });
  });

  it('exits 1 naming the flag for bad values, and 2 for unknown flags', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--agent', 'builtin/noop', '--priority', '11'], /--priority: an integer from 1 to 10/],
      [['--agent', 'builtin/noop', '--max-retries', 'x'], /--max-retries/],
      [['--agent', 'builtin/noop', '--timeout', '0'], /--timeout/],
      [['--agent', 'builtin/noop', '--capability', 'c'], /--capability/],
      [['--type', 't'], /--agent/],
      [['--agent', 'builtin/noop', '--input', '{nope'], /--input: not JSON/],
      [['--agent', 'builtin/noop', '--expires-at', 'soon'], /--expires-at/],
      [['--agent', 'no-such-agent'], /agent: no agent named no-such-agent \[INPUT_INVALID\]/],
    ];
    for (const [args, message] of cases) {
      const result = await cli(['task', 'submit', ...args], env);
      expect(result.code, args.join(' ')).toBe(1);
      expect(result.stderr.trim().split('\n')[0]).toMatch(message);
    }
    const unknown = await cli(['task', 'submit', '--agent', 'builtin/noop', '--colour', 'red'], env);
    expect(unknown.code).toBe(2);
    expect((await cli(['task', 'show', 'nope'], env)).code).toBe(1);
  });

  it("refuses input that fails the agent's input_schema before queueing it, whatever its runtime", async () => {
    // greeter is an example agent on the builtin transform runtime that requires a name.
    const refused = await cli(['task', 'submit', '--agent', 'greeter', '--input', '{}', '--wait'], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim()).toBe('swarm: input.name: is required [INPUT_INVALID]');
    const wrongType = await cli(['task', 'submit', '--agent', 'greeter', '--input', '{"name": 5}'], env);
    expect(wrongType.stderr.trim()).toBe('swarm: input.name: must be string [INPUT_INVALID]');
    expect(JSON.parse((await cli(['task', 'list', '--json'], env)).stdout)).toEqual([]);
    const ok = await cli(
      ['task', 'submit', '--agent', 'greeter', '--input', '{"name": "Ada"}', '--wait'],
      env,
    );
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^COMPLETED in \d+ ms: \{"name":"Ada"\}$/m);
  });
});
