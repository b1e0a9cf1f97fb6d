/**
 * A hierarchical step survives its worker: `kill -9` of the `swarm worker` process after one
 * subtask of the round completed and while the other runs. Another worker finishes the run: the
 * finished subtask never runs again (one task, one invocation), the one in flight runs again
 * under a new lease without spending an attempt (the step allows one), and the coordinator
 * answers with both results.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS } from '../helpers/databases.js';
import { engineFixture, type EngineFixture } from '../engine/helpers.js';
import { until } from '../helpers/until.js';
import { FIXTURES } from './process-helpers.js';

const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli/main.js');

describe.each(DIALECTS)('a hierarchical step after kill -9 of its worker on %s', (dialect) => {
  let fx: EngineFixture;
  let dir: string;
  const workers: ChildProcess[] = [];

  /** A standalone worker process (dist/), as `swarm worker` runs it. */
  function spawnWorker(): ChildProcess {
    const child = spawn(process.execPath, [MAIN, 'worker', '--lease-ms', '1000', '--concurrency', '2'], {
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: fx.testDb.url,
        SWARM_HOME: fx.testDb.dir,
        SWARM_LOG_LEVEL: 'silent',
      },
      stdio: 'ignore',
    });
    workers.push(child);
    return child;
  }

  beforeAll(async () => {
    fx = await engineFixture(dialect);
    // Outside SWARM_HOME (hidden from agents) and writable by the sandbox's user.
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-crew-'));
    fs.chmodSync(dir, 0o777);
    const { agents } = fx.registry.as(fx.caller);
    for (const [name, entry] of [
      ['crew-lead', 'plan.js'],
      ['crew-hand', 'work.js'],
    ] as const)
      await agents.register(
        {
          name,
          version: '1.0.0',
          type: 'execution',
          capabilities: [`test:${name}`],
          runtime: { type: 'node', entry },
        },
        { path: path.join(FIXTURES, 'crew') },
      );
  }, 60_000);
  afterAll(async () => {
    for (const child of workers)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await fx?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const subtasksOf = (parentId: string) =>
    fx.store.handle.db
      .selectFrom('tasks')
      .selectAll()
      .where('parent_task_id', '=', parentId)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
  const keyOf = (metadata: string | null) => (JSON.parse(metadata ?? '{}') as { orch?: string }).orch;
  const invocations = (tag: string) =>
    fs.existsSync(path.join(dir, tag))
      ? fs.readFileSync(path.join(dir, tag), 'utf8').trim().split('\n').length
      : 0;

  it('resumes the round on another worker: the finished subtask is not repeated, no attempt is spent', async () => {
    const { workflows, agents } = fx.registry.as(fx.caller);
    const { workflow } = await workflows.apply({
      name: 'crash-crew',
      version: '1.0.0',
      steps: [
        {
          id: 'crew',
          pattern: 'hierarchical',
          coordinator: 'crew-lead',
          pool: ['crew-hand'],
          retry: { max_attempts: 1 },
          input: {
            dir,
            jobs: [
              { tag: 'quick', ms: 50 },
              { tag: 'slow', ms: 2500 },
            ],
          },
        },
      ],
    });
    const id = await fx.engine.startRun(fx.caller, workflow, agents, { input: {} });
    const first = spawnWorker();
    const step = await until('the orchestrator task', () =>
      fx.store.handle.db.selectFrom('tasks').selectAll().where('run_id', '=', id).executeTakeFirst(),
    );
    // Mid-round: the quick subtask has completed, the slow one is running (its agent started).
    await until(
      'one subtask done and one running',
      async () => {
        const byKey = new Map((await subtasksOf(step.id)).map((t) => [keyOf(t.task_metadata), t.status]));
        return (
          byKey.get('r1-s1') === 'COMPLETED' && byKey.get('r1-s2') === 'RUNNING' && invocations('slow') === 1
        );
      },
      60_000,
    );
    expect(invocations('quick')).toBe(1);
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));

    spawnWorker();
    const run = await until(
      `run ${id} to end`,
      async () => {
        const view = await fx.engine.getRun(fx.caller, id);
        return ['completed', 'failed', 'cancelled', 'timeout'].includes(view.status) ? view : undefined;
      },
      60_000,
    );
    expect(run.status, JSON.stringify(run)).toBe('completed');
    expect(run.steps.crew!.output).toEqual({
      answer: [
        { tag: 'quick', done: true },
        { tag: 'slow', done: true },
      ],
      rounds: 2,
      subtasks: 2,
      stop_reason: 'answer',
    });

    // One task per turn (two plans, two subtasks), each completed on its first attempt.
    const children = await subtasksOf(step.id);
    expect(children.map((c) => keyOf(c.task_metadata)).sort()).toEqual([
      'plan-1',
      'plan-2',
      'r1-s1',
      'r1-s2',
    ]);
    for (const child of children)
      expect(child).toMatchObject({ status: 'COMPLETED', retry_count: 0, max_retries: 0 });
    // The quick subtask ran once; the slow one, lost with the worker, ran again under a new lease.
    expect(invocations('quick')).toBe(1);
    expect(invocations('slow')).toBe(2);
    const slow = children.find((c) => keyOf(c.task_metadata) === 'r1-s2')!;
    expect(slow.lease_losses).toBe(1);
    const quick = children.find((c) => keyOf(c.task_metadata) === 'r1-s1')!;
    expect(quick.lease_losses).toBe(0);
    const orchestrator = await fx.store.handle.db
      .selectFrom('tasks')
      .selectAll()
      .where('id', '=', step.id)
      .executeTakeFirstOrThrow();
    expect(orchestrator).toMatchObject({ status: 'COMPLETED', retry_count: 0, max_retries: 0 });
  }, 120_000);
});
