import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ProcessRuntime,
  ProcessSandbox,
  RuntimeError,
  type InvokedAgent,
  type IsolationMode,
  type WarmStopped,
} from '../../src/runtimes/index.js';
import { context, FIXTURES, invoke, ISOLATIONS, workFolders } from './process-helpers.js';

interface About {
  instance: string;
  served: number;
  found: string[];
  env: string[];
  secrets: Record<string, string>;
  taskId: string;
}

const warmNode = (runtime: Record<string, unknown> = {}, more: Partial<InvokedAgent> = {}): InvokedAgent => ({
  name: 'warm',
  version: '1.0.0',
  runtime: { type: 'node', entry: 'warm.js', mode: 'persistent', ...runtime },
  folder: path.join(FIXTURES, 'warm'),
  memoryMb: 256,
  permissions: ['secret:TOKEN'],
  ...more,
});

const warmPython = (runtime: Record<string, unknown> = {}): InvokedAgent => ({
  ...warmNode(runtime),
  name: 'warm-py',
  runtime: { type: 'python', entry: 'warm.py', mode: 'persistent', ...runtime },
  folder: path.join(FIXTURES, 'warm-py'),
});

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`never happened: ${what}`);
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    (value) => {
      throw new Error(`expected a failure, got ${JSON.stringify(value)}`);
    },
    (error: unknown) => error as Error,
  );
}

describe.each(ISOLATIONS)('warm process agents (isolation %s)', (isolation: IsolationMode) => {
  let home = '';
  let runtime: ProcessRuntime;

  let stopped: WarmStopped[] = [];

  function make(options: { recycleMemoryShare?: number; maxProcesses?: number } = {}) {
    stopped = [];
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-warm-'));
    runtime = new ProcessRuntime({
      home,
      sandbox: new ProcessSandbox({ isolation: { mode: isolation } }),
      warm: { maxProcesses: options.maxProcesses ?? 4, ...options, onStopped: (s) => stopped.push(s) },
    });
    return runtime;
  }

  const run = async (agent: InvokedAgent, input: unknown, more = {}, secrets = { TOKEN: 'token-aaaa' }) =>
    (await runtime.execute(invoke(agent, input, more), context({ secrets }))) as About;

  afterEach(async () => {
    await runtime.close();
    // Every warm process's working folder goes with it.
    expect(workFolders(home)).toEqual([]);
    fs.rmSync(home, { recursive: true, force: true });
  });

  it.each([
    ['node', warmNode],
    ['python', warmPython],
  ])(
    '%s: one process serves task after task, secrets per task and never in its environment',
    async (_, agent) => {
      make();
      const first = await run(agent(), { mode: 'write' }, {}, { TOKEN: 'token-aaaa' });
      const second = await run(agent(), {}, {}, { TOKEN: 'token-bbbb' });
      const third = await run(agent(), {});
      expect(second.instance).toBe(first.instance);
      expect(third.instance).toBe(first.instance);
      expect([first.served, second.served, third.served]).toEqual([1, 2, 3]);
      expect(first.secrets).toEqual({ TOKEN: 'token-aaaa' });
      expect(second.secrets).toEqual({ TOKEN: 'token-bbbb' });
      expect(first.env).toContain('SWARM_AGENT_MODE');
      expect(first.env).not.toContain('TOKEN');
      // What a task leaves in its working folder is gone before the next one starts.
      expect(second.found).toEqual([]);
      expect(runtime.warm.size).toBe(1);
    },
  );

  it('is replaced after max_tasks_per_process tasks', async () => {
    make();
    const agent = warmNode({ max_tasks_per_process: 2 });
    const seen = [];
    for (let i = 0; i < 5; i++) seen.push((await run(agent, {})).instance);
    expect(seen[1]).toBe(seen[0]);
    expect(seen[2]).not.toBe(seen[0]);
    expect(seen[3]).toBe(seen[2]);
    expect(seen[4]).not.toBe(seen[2]);
    await until('two recycled', () => runtime.warm.recycled.length >= 2);
    expect(runtime.warm.recycled.slice(0, 2).map((r) => [r.reason, r.tasks])).toEqual([
      ['max-tasks', 2],
      ['max-tasks', 2],
    ]);
    // What the worker logs: the agent and its owner, never the task's input or secrets.
    expect(stopped[0]).toMatchObject({
      ownerId: 'owner-1',
      agent: 'warm@1.0.0',
      reason: 'max-tasks',
      tasks: 2,
    });
  });

  it.each([
    ['node', warmNode],
    ['python', warmPython],
  ])(
    '%s: a crash mid-task fails the attempt (retryable) and the retry runs on a fresh process',
    async (_, agent) => {
      make();
      const before = await run(agent(), {});
      const error = await rejection(run(agent(), { mode: 'crash-first-attempt' }, { attempt: 1 }));
      expect(error).toBeInstanceOf(RuntimeError);
      expect((error as RuntimeError).retryable).toBe(true);
      expect(error.message).toMatch(/exited with code 3/);
      const retried = await run(agent(), { mode: 'crash-first-attempt' }, { attempt: 2 });
      expect(retried.instance).not.toBe(before.instance);
      expect(retried.served).toBe(1);
    },
  );

  it('an aborted task (timeout, cancellation) kills its process, which is never reused', async () => {
    make();
    const before = await run(warmNode(), {});
    const controller = new AbortController();
    const ctx = context({ signal: controller.signal });
    const pending = runtime.execute(invoke(warmNode(), { mode: 'sleep' }), ctx);
    await until('the agent sleeps', () => ctx.logs.some((l) => l.message === 'sleeping'));
    const reason = new Error('TIMEOUT: attempt exceeded 100 ms');
    controller.abort(reason);
    expect(await rejection(pending)).toBe(reason);
    // Rejected only once the process is gone.
    expect(runtime.warm.recycled.map((r) => r.reason)).toEqual(['killed']);
    expect(runtime.warm.size).toBe(0);
    const after = await run(warmNode(), {});
    expect(after.instance).not.toBe(before.instance);
  });

  it('never serves two owners from one process', async () => {
    make();
    const a1 = await run(warmNode(), {}, { ownerId: 'owner-a' });
    const b1 = await run(warmNode(), {}, { ownerId: 'owner-b' });
    const a2 = await run(warmNode(), {}, { ownerId: 'owner-a' });
    const b2 = await run(warmNode(), {}, { ownerId: 'owner-b' });
    expect(a1.instance).not.toBe(b1.instance);
    expect(a2.instance).toBe(a1.instance);
    expect(b2.instance).toBe(b1.instance);
    expect(runtime.warm.size).toBe(2);
  });

  it('an error line fails the task and keeps the process; a line after the output retires it', async () => {
    make();
    const first = await run(warmNode(), {});
    const error = await rejection(run(warmNode(), { mode: 'fail' }));
    expect(error.message).toBe('agent error: asked to fail');
    expect((error as RuntimeError).retryable).toBe(false);
    const extra = await run(warmNode(), { mode: 'extra' });
    expect(extra.instance).toBe(first.instance);
    await until('the process is retired', () => runtime.warm.recycled.length === 1);
    expect(runtime.warm.recycled[0]?.reason).toBe('protocol');
    expect((await run(warmNode(), {})).instance).not.toBe(first.instance);
  });

  it('is replaced once its memory grows past its share of memory_mb', async () => {
    make({ recycleMemoryShare: 0.5 });
    const agent = warmNode({}, { memoryMb: 256 });
    const first = await run(agent, {});
    // Grows to 160 MB (past 128 MB, short of the 256 MB limit) and holds it.
    for (let i = 0; i < 60 && runtime.warm.size === 1 && runtime.warm.recycled.length === 0; i++)
      await run(agent, { mode: 'grow', mb: 16, totalMb: 160, holdMs: 150 });
    await until('recycled for memory', () => runtime.warm.recycled.length === 1);
    expect(runtime.warm.recycled[0]?.reason).toBe('memory');
    expect((await run(agent, {})).instance).not.toBe(first.instance);
  });

  it('keeps at most maxProcesses alive, making room by stopping an idle one', async () => {
    make({ maxProcesses: 1 });
    const a = await run(warmNode(), {}, { ownerId: 'owner-a' });
    const b = await run(warmNode(), {}, { ownerId: 'owner-b' });
    expect(b.instance).not.toBe(a.instance);
    await until('one left', () => runtime.warm.size === 1);
    expect(runtime.warm.recycled.map((r) => r.reason)).toEqual(['evicted']);
  });

  it('an idle process exits after idle_timeout_seconds', async () => {
    make();
    await run(warmNode({ idle_timeout_seconds: 1 }), {});
    await until('idle exit', () => runtime.warm.size === 0);
    expect(runtime.warm.recycled.map((r) => r.reason)).toEqual(['idle']);
  });
});
