import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { Engine } from '../../src/engine/index.js';
import { Registry } from '../../src/registry/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import type { Caller } from '../../src/storage/index.js';
import { cli } from '../helpers/cli.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { until } from '../helpers/until.js';

describe.each(DIALECTS)('swarm approvals on %s', (dialect) => {
  let testDb: TestDatabase;
  let server: RunningServer;
  let env: NodeJS.ProcessEnv;
  let caller: Caller;
  let engine: Engine;

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
    const admin = server.bootstrapped!.user;
    caller = { userId: admin.id, role: admin.role };
    engine = new Engine(server.store);
  });
  afterAll(async () => {
    await server.close();
    await testDb.drop();
  });

  async function startRun(name: string, input: Record<string, unknown>): Promise<string> {
    const { workflows, agents } = new Registry(server.store).as(caller);
    const { workflow } = await workflows.apply({
      name,
      version: '1.0.0',
      steps: [{ id: 'review', agent: 'builtin/approval', input }],
    });
    return engine.startRun(caller, workflow, agents, { input: {} });
  }
  const finished = (id: string) =>
    until(`run ${id} to end`, async () => {
      const run = await engine.getRun(caller, id);
      return ['completed', 'failed'].includes(run.status) ? run : undefined;
    });
  const waiting = (runId: string) =>
    until(`the approval of ${runId}`, async () => {
      const listed = await cli(['approvals', 'list', '--json'], env);
      return (JSON.parse(listed.stdout) as Array<{ id: string; runId: string }>).find(
        (a) => a.runId === runId,
      );
    });

  it('lists waiting approvals, approves one with data and rejects another; bad flags name the flag', async () => {
    expect((await cli(['approvals', 'list'], env)).stdout).toContain('no approvals waiting');
    const approveRun = await startRun('cli-approve', {
      message: 'Pay invoice 7?',
      form: { type: 'object', properties: { amount: { type: 'integer' } } },
    });
    const rejectRun = await startRun('cli-reject', { message: 'Delete the bucket?' });
    const first = await waiting(approveRun);
    const second = await waiting(rejectRun);
    const table = await cli(['approvals', 'list'], env);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`${first.id}\\s+waiting\\s+cli-approve\\s+review`));
    expect(table.stdout).toContain('Delete the bucket?');

    for (const [argv, flag] of [
      [['approvals', 'list', '--status', 'nope'], '--status'],
      [['approvals', 'list', '--limit', '0'], '--limit'],
      [['approvals', 'approve', first.id, '--data', '{nope'], '--data'],
    ] as const) {
      const bad = await cli([...argv], env);
      expect(bad.code, argv.join(' ')).not.toBe(0);
      expect(bad.stderr).toContain(flag);
      expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    }
    const badForm = await cli(['approvals', 'approve', first.id, '--data', '{"amount": "lots"}'], env);
    expect(badForm.code).toBe(1);
    expect(badForm.stderr).toContain('data.amount');
    const unknown = await cli(['approvals', 'approve', 'no-such-approval'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/approval not found/);

    const approved = await cli(
      ['approvals', 'approve', first.id, '--comment', 'ok', '--data', '{"amount": 7}'],
      env,
    );
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toContain(`approved ${first.id}`);
    const rejected = await cli(['approvals', 'reject', second.id, '--comment', 'no way'], env);
    expect(rejected.code, rejected.stderr).toBe(0);
    expect(rejected.stdout).toContain(`rejected ${second.id}`);
    const twice = await cli(['approvals', 'reject', second.id], env);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain('APPROVAL_SETTLED');

    const ok = await finished(approveRun);
    expect(ok.status).toBe('completed');
    expect(ok.steps.review!.output).toMatchObject({ approved: true, data: { amount: 7 }, comment: 'ok' });
    const no = await finished(rejectRun);
    expect(no.status).toBe('failed');
    expect(no.steps.review!.error).toContain('"no way"');
    const all = JSON.parse(
      (await cli(['approvals', 'list', '--status', 'all', '--json'], env)).stdout,
    ) as Array<{
      decision: string;
    }>;
    expect(all.map((a) => a.decision).sort()).toEqual(['approve', 'reject']);
  });
});
