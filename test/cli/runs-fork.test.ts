import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { cli } from '../helpers/cli.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

describe.each(DIALECTS)('swarm runs fork against a server on %s', (dialect) => {
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

  function definition(version: string, factor: number): string {
    const file = path.join(testDb.dir, `chain-${version}.yaml`);
    fs.writeFileSync(
      file,
      [
        'name: chain',
        `version: ${version}`,
        'steps:',
        '  - id: a',
        '    agent: builtin/transform',
        '    input: { n: "{{ trigger.n }}" }',
        '  - id: b',
        '    agent: builtin/transform',
        '    needs: [a]',
        `    input: { n: "{{ steps.a.output.n * ${factor} }}" }`,
      ].join('\n'),
    );
    return file;
  }

  it('prints the new run id; the fork runs from the step on the version and input given', async () => {
    const first = await cli(['run', definition('1.0.0', 2), '--input', '{"n":3}', '--wait', '--json'], env);
    expect(first.code, first.stderr).toBe(0);
    const original = (JSON.parse(first.stdout) as { id: string }).id;
    expect((await cli(['workflow', 'apply', definition('1.1.0', 5)], env)).code).toBe(0);

    const input = path.join(testDb.dir, 'input.json');
    fs.writeFileSync(input, '{"n":100}');
    const forked = await cli(
      ['runs', 'fork', original, '--from', 'b', '--version', 'latest', '--input', `@${input}`],
      env,
    );
    expect(forked.code, forked.stderr).toBe(0);
    const id = forked.stdout.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    // Followed to its end: exit 0 only if it completed.
    expect((await cli(['runs', 'logs', id, '--follow'], env)).code).toBe(0);
    const shown = JSON.parse((await cli(['runs', 'show', id, '--json'], env)).stdout);
    // a is reused (n was 3), b runs on 1.1.0: 3 × 5.
    expect(shown).toMatchObject({
      version: '1.1.0',
      status: 'completed',
      parentRunId: original,
      forkedFromStep: 'b',
      isReplay: true,
      steps: { a: { reused_from: original, output: { n: 3 } }, b: { output: { n: 15 } } },
    });

    // A given version, with --json.
    const pinned = await cli(['runs', 'fork', original, '--from', 'a', '--version', '1.0.0', '--json'], env);
    expect(pinned.code, pinned.stderr).toBe(0);
    expect(JSON.parse(pinned.stdout)).toMatchObject({ version: '1.0.0', forkedFromStep: 'a' });
  });

  it('gives one line and exit 1 for bad flags and refusals', async () => {
    const first = await cli(['run', definition('1.0.0', 2), '--input', '{"n":3}', '--wait', '--json'], env);
    const original = (JSON.parse(first.stdout) as { id: string }).id;
    const cases: Array<[string[], RegExp]> = [
      [['runs', 'fork', original], /--from: is required/],
      [['runs', 'fork', original, '--from', 'b', '--input', '{nope'], /--input: not JSON/],
      [
        ['runs', 'fork', original, '--from', 'zz'],
        /fromStep: chain@1\.0\.0 has no step "zz" \[INPUT_INVALID\]/,
      ],
      [['runs', 'fork', 'no-such-run', '--from', 'b'], /run not found: no-such-run \[NOT_FOUND\]/],
    ];
    for (const [argv, message] of cases) {
      const result = await cli(argv, env);
      expect(result.code, argv.join(' ')).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(message);
    }
  });
});
