import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { cli } from '../helpers/cli.js';
import { until } from '../helpers/until.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

describe.each(DIALECTS)('swarm triggers against a running server on %s', (dialect) => {
  let testDb: TestDatabase;
  let server: RunningServer;
  let env: NodeJS.ProcessEnv;
  let dir: string;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    dir = testDb.dir;
    const home = path.join(dir, 'home');
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
  afterEach(async () => {
    await server.close();
    await testDb.drop();
  });

  function definition(name: string, trigger: Record<string, unknown>): string {
    const file = path.join(dir, `${name}.json`);
    fs.writeFileSync(
      file,
      JSON.stringify({ name, version: '1.0.0', trigger, steps: [{ id: 'a', agent: 'builtin/noop' }] }),
    );
    return file;
  }

  it('applies a webhook workflow (url and secret once), lists, rotates, and shows next ticks', async () => {
    const applied = await cli(
      ['workflow', 'apply', definition('hook', { type: 'webhook', path: 'in/hook' })],
      env,
    );
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain(`webhook: POST ${server.url}/hooks/in/hook`);
    expect(applied.stdout).toMatch(/store it now; it is not shown again/);
    const secret = /^\s+(whsec_\S+)$/m.exec(applied.stdout)![1]!;
    const again = await cli(
      ['workflow', 'apply', definition('hook', { type: 'webhook', path: 'in/hook' }), '--json'],
      env,
    );
    expect(JSON.parse(again.stdout).trigger).toEqual({
      type: 'webhook',
      id: expect.any(String),
      path: 'in/hook',
      url: '/hooks/in/hook',
    });

    const sched = definition('tick', { type: 'schedule', cron: '*/15 * * * *' });
    expect((await cli(['workflow', 'apply', sched], env)).code).toBe(0);

    const list = await cli(['triggers', 'list'], env);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^WORKFLOW\s+TYPE\s+ENABLED/);
    expect(list.stdout).toMatch(/^hook\s+webhook\s+yes/m);
    expect(list.stdout).toMatch(/^tick\s+schedule\s+yes\s+\*\/15 \* \* \* \* \(UTC, misfire skip\)/m);
    expect(list.stdout).not.toContain(secret);
    const json = JSON.parse((await cli(['triggers', 'list', '--type', 'schedule', '--json'], env)).stdout);
    expect(json.map((t: { workflow: string }) => t.workflow)).toEqual(['tick']);

    const next = await cli(['triggers', 'next', 'tick', '--count', '3'], env);
    expect(next.code, next.stderr).toBe(0);
    const times = next.stdout.split('\n').filter((l) => l.startsWith('  '));
    expect(times).toHaveLength(3);
    for (const t of times) expect(t.trim()).toMatch(/:(00|15|30|45):00\.000Z$/);

    const rotated = await cli(['triggers', 'rotate-secret', 'hook', '--grace', '60'], env);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout).toMatch(/not shown again/);
    expect(rotated.stdout).toMatch(/previous secret is accepted until/);
    const fresh = /^\s+(whsec_\S+)$/m.exec(rotated.stdout)![1]!;
    expect(fresh).not.toBe(secret);
    const rotatedJson = JSON.parse((await cli(['triggers', 'rotate-secret', 'hook', '--json'], env)).stdout);
    expect(rotatedJson.secret).toMatch(/^whsec_/);

    const disabled = await cli(['triggers', 'disable', 'hook'], env);
    expect(disabled.stdout).toMatch(/disabled the webhook trigger of hook/);
    const shown = JSON.parse((await cli(['triggers', 'show', 'hook', '--json'], env)).stdout);
    expect(shown).toMatchObject({ workflow: 'hook', enabled: false });
    expect((await cli(['triggers', 'firings', 'hook'], env)).stdout).toMatch(/no firings/);
  });

  it('exits non-zero with one line naming the bad flag', async () => {
    expect(
      (await cli(['workflow', 'apply', definition('tick', { type: 'schedule', cron: '@hourly' })], env)).code,
    ).toBe(0);
    const cases: Array<[string[], RegExp]> = [
      [['triggers', 'next', 'tick', '--count', '0'], /--count: an integer from 1 to 100/],
      [['triggers', 'next', 'tick', '--count', 'x'], /--count/],
      [['triggers', 'rotate-secret', 'tick', '--grace', '-5'], /--grace/],
      [['triggers', 'firings', 'tick', '--limit', '501'], /--limit/],
      [['triggers', 'list', '--type', 'manual'], /--type/],
    ];
    for (const [argv, message] of cases) {
      const result = await cli(argv, env);
      expect(result.code, argv.join(' ')).toBe(1);
      expect(result.stderr.trim().split('\n'), argv.join(' ')).toHaveLength(1);
      expect(result.stderr).toMatch(message);
    }
    const missing = await cli(['triggers', 'show', 'nope'], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/not found: nope \[NOT_FOUND\]/);
    expect((await cli(['triggers', 'rotate-secret', 'tick'], env)).stderr).toMatch(/\[CONFLICT\]/);
  });

  it('shows the causation and depth of events, and the firing the loop guard refused', async () => {
    const file = path.join(dir, 'everything.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        name: 'everything',
        version: '1.0.0',
        trigger: { type: 'event', source: '*', event_type: '*' },
        steps: [{ id: 'a', agent: 'builtin/noop' }],
      }),
    );
    expect((await cli(['workflow', 'apply', file], env)).code).toBe(0);
    const published = (await cli(['events', 'publish', 'shop', 'order.created'], env)).stdout.trim();
    // The published event starts one run; its run.completed would start the workflow again.
    type Listed = { id: string; type: string; runId: string | null; depth: number; status: string };
    const listed = await until('both events dispatched', async () => {
      const items = JSON.parse((await cli(['events', 'list', '--json'], env)).stdout) as Listed[];
      return items.length === 2 && items.every((e) => e.status === 'dispatched') ? items : undefined;
    });
    const ended = listed.find((e) => e.type === 'run.completed')!;
    expect(listed.find((e) => e.id === published)).toMatchObject({ runId: null, depth: 0 });
    expect(ended).toMatchObject({ runId: expect.any(String), depth: 1 });
    const table = (await cli(['events', 'list'], env)).stdout;
    expect(table).toMatch(/^ID\s+SOURCE\s+TYPE\s+STATUS\s+DEPTH\s+CAUSED BY RUN/);
    expect(table).toMatch(new RegExp(`run\\.completed\\s+dispatched\\s+1\\s+${ended.runId}`));

    const firings = JSON.parse((await cli(['triggers', 'firings', 'everything', '--json'], env)).stdout);
    expect(firings).toMatchObject([
      { key: `event:${ended.id}`, status: 'refused', reason: 'self-triggered', runId: null },
      { key: `event:${published}`, status: 'started', reason: null, runId: ended.runId },
    ]);
    const text = (await cli(['triggers', 'firings', 'everything'], env)).stdout;
    expect(text).toMatch(/refused \(self-triggered\)\s+-\s+event:/);
    expect(text).toContain('allow_self: true');
  });

  it('publishes and lists events, and schedules tasks', async () => {
    const published = await cli(
      ['events', 'publish', 'shop', 'order.created', '--payload', '{"n":1}', '--key', 'k1'],
      env,
    );
    expect(published.code, published.stderr).toBe(0);
    const id = published.stdout.trim();
    const again = await cli(['events', 'publish', 'shop', 'order.created', '--key', 'k1'], env);
    expect(again.stdout.trim()).toBe(id);
    const listed = JSON.parse((await cli(['events', 'list', '--json'], env)).stdout);
    expect(listed).toEqual([expect.objectContaining({ id, source: 'shop', payload: { n: 1 } })]);
    const reserved = await cli(['events', 'publish', 'swarm', 'run.completed'], env);
    expect(reserved.code).toBe(1);
    expect(reserved.stderr).toMatch(/source: .*reserved/);
    expect((await cli(['events', 'publish', 'a', 'b', '--payload', '{'], env)).stderr).toMatch(/--payload/);

    const scheduled = await cli(
      [
        'task',
        'schedule',
        'digest',
        '--cron',
        '0 8 * * 1-5',
        '--capability',
        'text.summarize',
        '--timezone',
        'Europe/Paris',
        '--json',
      ],
      env,
    );
    expect(scheduled.code, scheduled.stderr).toBe(0);
    const schedule = JSON.parse(scheduled.stdout);
    expect(schedule).toMatchObject({ name: 'digest', timezone: 'Europe/Paris', active: true });
    expect((await cli(['task', 'schedules'], env)).stdout).toMatch(
      /^\S+\s+digest\s+0 8 \* \* 1-5\s+Europe\/Paris/m,
    );
    const bad = await cli(['task', 'schedule', 'x', '--cron', 'nope', '--capability', 'c'], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/cron/);
    expect(
      (
        await cli(
          ['task', 'schedule', 'x', '--cron', '@daily', '--capability', 'c', '--misfire', 'late'],
          env,
        )
      ).stderr,
    ).toMatch(/--misfire/);
    expect((await cli(['task', 'unschedule', schedule.id], env)).stdout).toMatch(/removed scheduled task/);
    expect((await cli(['task', 'schedules'], env)).stdout).toMatch(/no scheduled tasks/);
  });
});
