import path from 'node:path';
import { createHash } from 'node:crypto';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configureBlobs, isBlobReference, loadJson } from '../../src/blobs/index.js';
import { loadConfig } from '../../src/config/index.js';
import { createWorker, type Worker } from '../../src/worker/index.js';
import { DIALECTS } from '../helpers/databases.js';
import { until } from '../helpers/until.js';
import { engineFixture, type EngineFixture } from '../engine/helpers.js';
import { FIXTURES } from '../runtimes/process-helpers.js';

const MB = 1_000_000;

describe.each(DIALECTS)('large outputs of process agents on %s', (dialect) => {
  let fx: EngineFixture;
  let worker: Worker | undefined;
  beforeEach(async () => {
    fx = await engineFixture(dialect);
  });
  afterEach(async () => {
    await worker?.stop(1000);
    worker = undefined;
    configureBlobs({});
    await fx.close();
  });

  async function runBig(bytes: number, env: Record<string, string> = {}) {
    const { agents, workflows } = fx.registry.as(fx.caller);
    await agents.register(
      {
        name: 'big',
        version: '1.0.0',
        type: 'execution',
        capabilities: ['test:probe'],
        runtime: { type: 'node', entry: 'probe.js' },
        resources: { memory_mb: 1024, timeout_seconds: 120 },
      },
      { path: path.join(FIXTURES, 'probe') },
    );
    await workflows.apply({
      name: 'big',
      version: '1.0.0',
      steps: [
        { id: 'make', agent: 'big@1.0.0', input: { mode: 'big', bytes }, retry: { max_attempts: 1 } },
        // The next step reads the output through an expression.
        {
          id: 'measure',
          agent: 'builtin/transform',
          needs: ['make'],
          input: { sha256: '{{ steps.make.output.sha256 }}' },
        },
      ],
    });
    const config = loadConfig({ DATABASE_URL: fx.testDb.url, SWARM_HOME: fx.testDb.dir, ...env });
    worker = createWorker(fx.store, fx.engine, config, pino({ level: 'silent' }), { concurrency: 2 });
    worker.start();
    const id = await fx.engine.startRun(fx.caller, await workflows.get('big'), agents, { input: {} });
    worker.notify();
    return until(
      `run ${id} to end`,
      async () => {
        const view = await fx.engine.getRun(fx.caller, id);
        return ['completed', 'failed', 'cancelled', 'timeout'].includes(view.status) ? view : undefined;
      },
      120_000,
    );
  }

  it('takes a 50 MB output line, stores it as a blob and feeds it whole to the next step', async () => {
    const bytes = 50 * MB;
    const ended = await runBig(bytes);
    expect(ended.error ?? null).toBeNull();
    expect(ended.status).toBe('completed');
    const task = await fx.store.handle.db
      .selectFrom('tasks')
      .select('result_data')
      .where('run_id', '=', ended.id)
      .where('step_id', '=', 'make')
      .executeTakeFirstOrThrow();
    const ref: unknown = JSON.parse(task.result_data!);
    expect(isBlobReference(ref)).toBe(true);
    const output = (await loadJson<{ sha256: string; text: string }>(fx.store.handle.db, task.result_data))!;
    expect(output.text.length).toBe(bytes);
    expect(createHash('sha256').update(output.text).digest('hex')).toBe(output.sha256);
    expect(ended.steps.measure?.output).toEqual({ sha256: output.sha256 });
    // Over 16 MiB a run's view links to the output (the same blob as the task's) instead of carrying it.
    const sha = (ref as { $blob: string }).$blob.slice('sha256:'.length);
    expect(ended.steps.make?.output).toEqual({ ...(ref as object), url: `/api/v1/blobs/${sha}` });
  }, 180_000);

  it('fails an output over SWARM_AGENT_OUTPUT_MAX with an error naming it', async () => {
    const ended = await runBig(2 * MB, { SWARM_AGENT_OUTPUT_MAX: String(1024 * 1024) });
    expect(ended.status).toBe('failed');
    expect(JSON.stringify(ended.error)).toMatch(/output too large: .*SWARM_AGENT_OUTPUT_MAX/);
  }, 60_000);
});
