import { spawn } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatAttemptEnd } from '../../src/worker/attempt-end.js';
import { DIALECTS } from '../helpers/databases.js';
import { MAIN, waitFor } from '../helpers/swarm-process.js';
import { engineFixture, type EngineFixture } from '../engine/helpers.js';

describe('a worker attempt line', () => {
  it('names the task, agent, run and step, how it ended and how long it took', () => {
    const at = new Date('2026-01-02T03:04:05.000Z');
    const base = {
      taskId: 't1',
      runId: 'r1',
      stepId: 'greet',
      agent: 'greeter@1.0.0',
      attempt: 2,
      durationMs: 12,
    };
    expect(formatAttemptEnd({ ...base, status: 'completed' }, at)).toBe(
      '2026-01-02T03:04:05.000Z task t1 greeter@1.0.0 run r1 step greet attempt 2: completed in 12 ms',
    );
    expect(
      formatAttemptEnd(
        { ...base, runId: null, stepId: null, status: 'failed', error: 'no\nway', retryable: true },
        at,
      ),
    ).toBe(
      '2026-01-02T03:04:05.000Z task t1 greeter@1.0.0 standalone attempt 2: failed in 12 ms: no way (retryable)',
    );
  });
});

describe.each(DIALECTS)('the standalone worker (swarm worker) on %s', { timeout: 180_000 }, (dialect) => {
  let fx: EngineFixture;
  beforeEach(async () => {
    fx = await engineFixture(dialect);
  });
  afterEach(async () => {
    await fx.close();
  });

  it('prints a line per task it finished', async () => {
    const { workflows, agents } = fx.registry.as(fx.caller);
    const { workflow } = await workflows.apply({
      name: 'console',
      version: '1.0.0',
      steps: [
        { id: 'prepare', agent: 'builtin/transform', input: { subject: 'hi' } },
        // No smtp connector is configured: this step fails.
        {
          id: 'send',
          agent: 'builtin/send_email',
          needs: ['prepare'],
          input: { connector: 'smtp', to: 'a@example.com', subject: 'x', text: 'x' },
        },
      ],
    });
    const runId = await fx.engine.startRun(fx.caller, workflow, agents, { input: {} });
    const child = spawn(process.execPath, [MAIN, 'worker', '--concurrency', '2'], {
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: fx.testDb.url,
        SWARM_HOME: fx.testDb.dir,
        SWARM_LOG_LEVEL: 'silent',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output = { text: '' };
    child.stdout.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      const step = (id: string, status: string) =>
        new RegExp(
          `^\\S+Z task \\S+ builtin/\\w+@\\S+ run ${runId} step ${id} attempt 1: ${status} in \\d+ ms`,
          'm',
        );
      await waitFor(child, output, step('prepare', 'completed'));
      const [failed] = await waitFor(child, output, step('send', 'failed'));
      expect(output.text).toMatch(new RegExp(`${failed!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .+`));
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});
