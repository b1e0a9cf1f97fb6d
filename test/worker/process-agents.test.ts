import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { registerExamples } from '../../src/registry/index.js';
import { createWorker, type Worker } from '../../src/worker/index.js';
import { DIALECTS } from '../helpers/databases.js';
import { engineFixture, type EngineFixture } from '../engine/helpers.js';
import { expectGone, FIXTURES } from '../runtimes/process-helpers.js';
import { until } from '../helpers/until.js';

describe.each(DIALECTS)('process agents in workflows on %s', (dialect) => {
  let fx: EngineFixture;
  let worker: Worker | undefined;
  beforeEach(async () => {
    fx = await engineFixture(dialect);
  });
  afterEach(async () => {
    await worker?.stop(1000);
    worker = undefined;
    await fx.close();
  });

  /**
   * `isolation: 'none'` for the tests that look up the pids an agent writes: isolated, they are
   * its PID namespace's, not the worker's (and it cannot write to the test's 0700 folder).
   */
  function startWorker(isolation: 'auto' | 'none' = 'auto'): Worker {
    const config = loadConfig({ DATABASE_URL: fx.testDb.url, SWARM_HOME: fx.testDb.dir });
    worker = createWorker(fx.store, fx.engine, config, pino({ level: 'silent' }), {
      concurrency: 4,
      sandbox: { isolation: { mode: isolation } },
    });
    worker.start();
    return worker;
  }

  async function run(workflowName: string, input: unknown) {
    const { workflows, agents } = fx.registry.as(fx.caller);
    const workflow = await workflows.get(workflowName);
    const id = await fx.engine.startRun(fx.caller, workflow, agents, { input });
    worker?.notify();
    return until(`run ${id} to end`, async () => {
      const view = await fx.engine.getRun(fx.caller, id);
      return ['completed', 'failed', 'cancelled', 'timeout'].includes(view.status) ? view : undefined;
    });
  }

  const tasksOf = (runId: string) =>
    fx.store.handle.db.selectFrom('tasks').selectAll().where('run_id', '=', runId).execute();

  /** Registers the probe test agent under `name` with its own manifest fields. */
  async function registerProbe(name: string, manifest: Record<string, unknown>): Promise<void> {
    const { agents } = fx.registry.as(fx.caller);
    await agents.register(
      {
        name,
        version: '1.0.0',
        type: 'execution',
        capabilities: ['test:probe'],
        runtime: { type: 'node', entry: 'probe.js' },
        ...manifest,
      },
      { path: path.join(FIXTURES, 'probe') },
    );
  }

  async function workflowOf(
    agent: string,
    input: unknown,
    more: Record<string, unknown> = {},
  ): Promise<string> {
    const name = `w-${agent}`;
    await fx.registry.as(fx.caller).workflows.apply({
      name,
      version: '1.0.0',
      steps: [{ id: 'only', agent: `${agent}@1.0.0`, input, ...more }],
    });
    return name;
  }

  it('runs the example node and python agents (registered from examples/agents) to completion', async () => {
    await registerExamples(fx.registry, fx.caller);
    startWorker();
    // Shell metacharacters in the input reach both agents as plain text.
    // Digits only: hex letters could spell a keyword ("bad") and change the sentiment.
    const marker = path.join(os.tmpdir(), `swarm-pwned-${randomBytes(4).readUInt32BE()}`);
    const text = `I love it; not bad $(touch ${marker}) \`touch ${marker}\``;
    const report = await run('text-report', { text });
    expect(report).toMatchObject({
      status: 'completed',
      result: {
        report: {
          title: 'Text report',
          words: 9,
          sentiment: 'positive',
          summary: '9 words, positive',
        },
      },
    });
    expect(fs.existsSync(marker)).toBe(false);
    const counted = await run('count-each', { documents: ['one two', 'three', 'four five six'] });
    expect(counted).toMatchObject({ status: 'completed', result: { total: { documents: 3, words: 6 } } });
    const vote = await run('sentiment-vote', { text: 'this is terrible' });
    expect(vote.status).toBe('completed');
    expect(JSON.stringify(vote.result)).toContain('"negative"');
    // Every attempt's working folder is gone.
    expect(fs.readdirSync(path.join(fx.testDb.dir, 'work'))).toEqual([]);
  });

  it('fails an attempt whose output breaks output_schema with the path, without retrying', async () => {
    await registerProbe('bad-output', {
      output_schema: { type: 'object', required: ['count'], properties: { count: { type: 'integer' } } },
    });
    const name = await workflowOf(
      'bad-output',
      { mode: 'output', output: { count: 'three' } },
      {
        retry: { max_attempts: 3, backoff: 'fixed', initial_delay_ms: 100 },
      },
    );
    startWorker();
    const ended = await run(name, {});
    expect(ended.status).toBe('failed');
    const [task] = await tasksOf(ended.id);
    expect(task).toMatchObject({ status: 'FAILED', retry_count: 0 });
    expect(task!.error_message).toMatch(/^output\.count: must be integer/);
  });

  it('times out a sleeping agent: the task is TIMEOUT and its whole process tree is gone', async () => {
    await registerProbe('sleeper', { resources: { memory_mb: 128, timeout_seconds: 1 } });
    const pidFile = path.join(fx.testDb.dir, 'pids.json');
    const name = await workflowOf('sleeper', { mode: 'sleep', pidFile });
    startWorker('none');
    const ended = await run(name, {});
    expect(ended.status).toBe('failed');
    const [task] = await tasksOf(ended.id);
    expect(task!.status).toBe('TIMEOUT');
    expect(task!.error_message).toMatch(/TIMEOUT/);
    await expectGone(JSON.parse(fs.readFileSync(pidFile, 'utf8')) as Record<string, number>);
  });

  it('ends an agent past its memory_mb as failed with "memory limit exceeded", nothing left behind', async () => {
    await registerProbe('hog', { resources: { memory_mb: 96, timeout_seconds: 60 } });
    const pidFile = path.join(fx.testDb.dir, 'pids.json');
    const name = await workflowOf('hog', { mode: 'hog', pidFile });
    startWorker('none');
    const ended = await run(name, {});
    expect(ended.status).toBe('failed');
    const [task] = await tasksOf(ended.id);
    expect(task!.status).toBe('FAILED');
    expect(task!.error_message).toMatch(/^memory limit exceeded/);
    await expectGone(JSON.parse(fs.readFileSync(pidFile, 'utf8')) as Record<string, number>);
  });

  it('fails an LLM agent whose provider is not configured at once, without retrying', async () => {
    const { agents } = fx.registry.as(fx.caller);
    await registerExamples(fx.registry, fx.caller);
    expect((await agents.get('summarizer')).manifest.runtime.type).toBe('llm');
    await fx.registry.as(fx.caller).workflows.apply({
      name: 'w-llm',
      version: '1.0.0',
      steps: [{ id: 'sum', agent: 'summarizer@1.0.0', input: { text: 'x' } }],
    });
    startWorker();
    const ended = await run('w-llm', {});
    expect(ended.status).toBe('failed');
    const [task] = await tasksOf(ended.id);
    expect(task!.error_message).toMatch(/local-openai/);
    expect(task!.retry_count).toBe(0);
  });
});
