import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { cli } from '../helpers/cli.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

const LOG_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (debug|info|warning|error|critical) +\S+ .+$/;

describe.each(DIALECTS)('swarm runs logs / run --wait / runs retry against a server on %s', (dialect) => {
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
    // `prepare` completes; `send` fails (no smtp connector is configured), so the run fails at it.
    const flaky = path.join(testDb.dir, 'flaky.yaml');
    fs.writeFileSync(
      flaky,
      [
        'name: flaky',
        'version: 1.0.0',
        'steps:',
        '  - id: prepare',
        '    agent: builtin/transform',
        '    input: { subject: hi }',
        '  - id: send',
        '    agent: builtin/send_email',
        '    needs: [prepare]',
        '    input: { connector: smtp, to: a@example.com, subject: "{{ steps.prepare.output.subject }}", text: x }',
      ].join('\n'),
    );
    expect((await cli(['workflow', 'apply', flaky], env)).code).toBe(0);
  });
  afterEach(async () => {
    await server.close();
    await testDb.drop();
  });

  async function startRun(workflow: string, input = '{}'): Promise<string> {
    const started = await cli(['run', workflow, '--input', input], env);
    expect(started.code, started.stderr).toBe(0);
    return started.stdout.trim();
  }

  it('run --wait follows over the event stream: exit 0 for a completed run, 1 for a failed one', async () => {
    const ok = await cli(['run', 'hello', '--input', '{"name":"Ada Lovelace"}', '--wait'], env);
    expect(ok.code, ok.stderr).toBe(0);
    const lines = ok.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^run \S+ of hello$/);
    // The status line, then the run's result, whole.
    const end = lines.findIndex((l) => /^completed in \d+ ms$/.test(l));
    expect(end).toBeGreaterThan(0);
    expect(lines[end + 1]).toMatch(/^result: /);
    // Each step's change once, in the order they happened.
    for (const step of ['greet', 'check', 'answer'])
      expect(lines.filter((l) => new RegExp(`^ {2}completed +${step}$`).test(l))).toHaveLength(1);
    expect(lines.findIndex((l) => / greet$/.test(l))).toBeLessThan(
      lines.findIndex((l) => / answer$/.test(l)),
    );

    const failed = await cli(['run', 'flaky', '--wait'], env);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/^ {2}completed +prepare$/m);
    expect(failed.stdout).toMatch(/^ {2}failed +send — /m);
    expect(failed.stdout).toMatch(/^failed in \d+ ms: /m);
    expect(failed.stderr).toMatch(/^swarm: run \S+ ended failed at step send \[RUN_NOT_COMPLETED\]$/m);

    const json = await cli(['run', 'flaky', '--wait', '--json'], env);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ status: 'failed', errorStep: 'send' });
  });

  it('runs logs prints the log; --follow streams it to the end and exits by how the run ended', async () => {
    const id = await startRun('hello', '{"name":"Grace"}');
    // Follows from wherever the run is (probably still running) to its end.
    const followed = await cli(['runs', 'logs', id, '--follow'], env);
    expect(followed.code, followed.stderr).toBe(0);
    const lines = followed.stdout.trim().split('\n');
    for (const l of lines) expect(l).toMatch(LOG_LINE);
    expect(lines[0]).toMatch(/ info +- run started: hello@1\.0\.0/);
    expect(lines.at(-1)).toMatch(/ info +- run completed$/);
    expect(lines).toEqual(
      expect.arrayContaining([expect.stringMatching(/ info +greet step greet completed$/)]),
    );
    expect(new Set(lines).size).toBe(lines.length);

    // Without --follow: the same lines, once the run is over.
    const printed = await cli(['runs', 'logs', id], env);
    expect(printed.code).toBe(0);
    expect(printed.stdout.trim().split('\n')).toEqual(lines);
    const json = await cli(['runs', 'logs', id, '--json', '--step', 'greet'], env);
    const greet = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { stepId: string; message: string });
    expect(greet.map((l) => l.message)).toEqual(['step greet running', 'step greet completed']);
    const followedStep = await cli(['runs', 'logs', id, '--follow', '--json', '--step', 'greet'], env);
    expect(followedStep.stdout).toBe(json.stdout);

    const failedId = await startRun('flaky');
    const failed = await cli(['runs', 'logs', failedId, '--follow'], env);
    expect(failed.code).toBe(1);
    expect(failed.stdout.trim().split('\n').at(-1)).toMatch(/ error +- run failed at step send: /);
    expect(failed.stderr).toBe(`swarm: run ${failedId} ended failed at step send [RUN_NOT_COMPLETED]\n`);

    const missing = await cli(['runs', 'logs', '01900000-0000-7000-8000-000000000000', '--follow'], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/run not found: .*\[NOT_FOUND\]$/m);
  });

  it('runs retry keeps completed steps with --from-failed, and runs every step again without it', async () => {
    const id = await startRun('flaky');
    expect((await cli(['runs', 'logs', id, '--follow'], env)).code).toBe(1);
    const ranPrepare = async () =>
      (await cli(['runs', 'logs', id, '--step', 'prepare'], env)).stdout
        .split('\n')
        .filter((l) => l.endsWith('step prepare running')).length;
    expect(await ranPrepare()).toBe(1);

    const kept = await cli(['runs', 'retry', id, '--from-failed', '--json'], env);
    expect(kept.code, kept.stderr).toBe(0);
    expect(JSON.parse(kept.stdout)).toMatchObject({
      id,
      attempt: 2,
      steps: { prepare: { status: 'completed', output: { subject: 'hi' } } },
    });
    expect((await cli(['runs', 'logs', id, '--follow'], env)).code).toBe(1);
    expect(await ranPrepare()).toBe(1);

    const again = await cli(['runs', 'retry', id], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe(`${id}: running (attempt 3)\n`);
    expect((await cli(['runs', 'logs', id, '--follow'], env)).code).toBe(1);
    expect(await ranPrepare()).toBe(2);

    const running = await cli(['runs', 'retry', (await startRun('hello')).trim()], env);
    expect(running.code).toBe(1);
  });
});
