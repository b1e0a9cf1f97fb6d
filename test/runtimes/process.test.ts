import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  BuiltinRuntime,
  DEFAULT_AGENT_PATH,
  DispatchRuntime,
  parseLine,
  RuntimeError,
  type Runtime,
} from '../../src/runtimes/index.js';
import { MemoryEventSink, LOOSE_POLICY } from './helpers.js';
import {
  context,
  EXAMPLE_AGENTS,
  expectGone,
  FIXTURES,
  harness,
  ISOLATIONS,
  invoke,
  loggedPids,
  MECHANISMS,
  probe,
  probePy,
  workFolders,
  type Harness,
} from './process-helpers.js';

/** The process runtime as the worker sees it: behind dispatch, which checks the agent's schemas. */
function checked(runtime: Runtime): Runtime {
  return new DispatchRuntime({ node: runtime, python: runtime, binary: runtime });
}

async function failure(promise: Promise<unknown>): Promise<RuntimeError> {
  const error = await promise.then(
    (value) => {
      throw new Error(`expected a failure, got ${JSON.stringify(value)}`);
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RuntimeError);
  return error as RuntimeError;
}

const example = (name: string, type: string, entry: string, memoryMb = 64) => ({
  name,
  version: '1.0.0',
  runtime: { type, entry },
  folder: path.join(EXAMPLE_AGENTS, name),
  memoryMb,
  permissions: [],
});

describe('the protocol lines', () => {
  it('parses every line type and keeps anything else as text', () => {
    expect(parseLine('{"type":"output","output":{"a":1}}')).toEqual({ type: 'output', output: { a: 1 } });
    expect(parseLine('{"type":"log","level":"warn","message":"m","data":{"k":1}}')).toEqual({
      type: 'log',
      level: 'warning',
      message: 'm',
      data: { k: 1 },
    });
    expect(parseLine('{"type":"usage","input_tokens":2,"output_tokens":3,"cost":0.1}')).toMatchObject({
      type: 'usage',
      tokens: 5,
      cost: 0.1,
    });
    expect(parseLine('{"type":"event","name":"x.y","payload":[1]}')).toEqual({
      type: 'event',
      name: 'x.y',
      source: null,
      payload: [1],
      key: null,
    });
    expect(parseLine('{"type":"error","message":"no","retryable":false}')).toEqual({
      type: 'error',
      message: 'no',
      retryable: false,
    });
    expect(parseLine('')).toBeNull();
    expect(parseLine('hello')).toEqual({ type: 'text', text: 'hello', why: null });
    expect(parseLine('{"not":"protocol"}')).toMatchObject({ type: 'text', why: null });
    expect(parseLine('{"type":"output"}')).toMatchObject({
      type: 'text',
      why: 'output line: output is required',
    });
    expect(parseLine('{"type":"usage","tokens":-1}')).toMatchObject({ type: 'text' });
    expect(parseLine('{"type":"artifact","name":"a"}')).toMatchObject({
      type: 'text',
      why: 'artifact line: give exactly one of content and path',
    });
  });
});

describe('the process runtime', () => {
  let h: Harness;
  beforeAll(() => {
    h = harness();
  });
  afterAll(() => h.close());
  afterEach(() => {
    // Every attempt removes its working folder, whatever happened.
    expect(workFolders(h.home)).toEqual([]);
  });

  it('runs the node and python example agents, written with the swarm-agent helpers', async () => {
    const ctx = context();
    const text = 'I love this, not bad at all';
    expect(await h.runtime.execute(invoke(example('sentiment', 'node', 'index.js'), { text }), ctx)).toEqual({
      label: 'positive',
      score: 1,
      matches: ['love', 'not bad'],
    });
    expect(
      await h.runtime.execute(invoke(example('echo', 'node', 'index.js'), { a: [1, 'é'] }), ctx),
    ).toEqual({
      a: [1, 'é'],
    });
    expect(
      await h.runtime.execute(invoke(example('word-count', 'python', 'main.py'), { text }), ctx),
    ).toEqual({
      words: 7,
      characters: text.length,
    });
    expect(ctx.logs).toEqual([]);
  });

  it('runs a binary agent with its arguments as an array, never through a shell', async () => {
    const marker = path.join(os.tmpdir(), `swarm-pwned-${randomBytes(4).toString('hex')}`);
    const args = [`$(touch ${marker})`, `; touch ${marker}`, `\`touch ${marker}\` | cat`];
    const ctx = context();
    const output = await h.runtime.execute(
      invoke(
        {
          name: 'bin',
          version: '1.0.0',
          runtime: { type: 'binary', entry: 'probe.sh', args },
          folder: path.join(FIXTURES, 'probe-bin'),
          memoryMb: 64,
        },
        {},
      ),
      ctx,
    );
    expect(output).toEqual({ argc: 3 });
    expect(ctx.logs.filter((l) => l.metadata?.stream === 'stderr').map((l) => l.message)).toEqual(args);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('gives the agent an environment of PATH, HOME, TMPDIR, LANG and its granted secrets only', async () => {
    process.env.DATABASE_URL = 'postgres://worker:hunter2@db/swarm';
    process.env.SWARM_MASTER_KEY = 'worker-only';
    try {
      for (const agent of [probe, probePy]) {
        const ctx = context({ secrets: { API_TOKEN: 'tok-123456', OTHER: 'not-granted' } });
        const out = (await h.runtime.execute(
          invoke(agent({ permissions: ['secret:API_TOKEN', 'secret:MISSING', 'network:http'] }), {
            mode: 'env',
          }),
          ctx,
        )) as { env: Record<string, string>; cwd: string; context: Record<string, unknown> };
        expect(Object.keys(out.env).sort()).toEqual(['API_TOKEN', 'HOME', 'LANG', 'PATH', 'TMPDIR']);
        expect(out.env).toMatchObject({ API_TOKEN: 'tok-123456', PATH: DEFAULT_AGENT_PATH, LANG: 'C.UTF-8' });
        // Its own fresh working folder under SWARM_HOME/work, which is also HOME and TMPDIR.
        expect(path.dirname(out.cwd)).toBe(path.join(fs.realpathSync(h.home), 'work'));
        expect(out.env.HOME).toBe(out.cwd);
        expect(out.env.TMPDIR).toBe(out.cwd);
        expect(out.context).toMatchObject({
          run_id: 'run-1',
          step_id: 'step',
          attempt: 1,
          idempotency_key: 'swarm-test-key',
          agent: { name: agent().name, version: '1.0.0' },
          secrets: { API_TOKEN: 'tok-123456' },
        });
        expect(Object.keys(out.context.secrets as object)).toEqual(['API_TOKEN']);
      }
    } finally {
      delete process.env.DATABASE_URL;
      delete process.env.SWARM_MASTER_KEY;
    }
  });

  it('passes no secret to an agent whose permissions grant none', async () => {
    const out = (await h.runtime.execute(
      invoke(probe(), { mode: 'env' }),
      context({ secrets: { API_TOKEN: 'tok-123456' } }),
    )) as { env: Record<string, string>; context: { secrets: object } };
    expect(Object.keys(out.env).sort()).toEqual(['HOME', 'LANG', 'PATH', 'TMPDIR']);
    expect(out.context.secrets).toEqual({});
  });

  it('keeps granted secret values out of logs and error messages', async () => {
    const secrets = { API_TOKEN: 'tok-123456' };
    const agent = probe({ permissions: ['secret:API_TOKEN'] });
    const ctx = context({ secrets });
    await h.runtime.execute(invoke(agent, { mode: 'report' }), ctx);
    expect(ctx.logs.find((l) => l.message.startsWith('token is'))?.message).toBe(
      'token is [REDACTED:API_TOKEN]',
    );
    const error = await failure(
      h.runtime.execute(invoke(agent, { mode: 'exit', code: 3, secret: 'tok-123456' }), context({ secrets })),
    );
    expect(error.message).toContain('last words [REDACTED:API_TOKEN]');
    expect(error.message).not.toContain('tok-123456');
  });

  it('passes input with shell metacharacters as data: no command runs', async () => {
    const marker = path.join(os.tmpdir(), `swarm-pwned-${randomBytes(4).toString('hex')}`);
    const text = `; rm -rf x $(touch ${marker}) \`touch ${marker}\` && touch ${marker} | tee ${marker} > ${marker}'"`;
    const ctx = context();
    expect(await h.runtime.execute(invoke(example('echo', 'node', 'index.js'), { text }), ctx)).toEqual({
      text,
    });
    expect(await h.runtime.execute(invoke(probePy(), { mode: 'echo', value: text }), ctx)).toBe(text);
    expect(
      await h.runtime.execute(invoke(example('word-count', 'python', 'main.py'), { text }), ctx),
    ).toMatchObject({
      characters: text.length,
    });
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('fails an output that does not match output_schema, naming the path, without retry (checked by dispatch)', async () => {
    const outputSchema = {
      type: 'object',
      required: ['count', 'items'],
      properties: {
        count: { type: 'integer' },
        items: {
          type: 'array',
          items: { type: 'object', required: ['n'], properties: { n: { type: 'number' } } },
        },
      },
    };
    const agent = probe({ outputSchema });
    const error = await failure(
      checked(h.runtime).execute(
        invoke(agent, { mode: 'output', output: { count: 'three', items: [] } }),
        context(),
      ),
    );
    expect(error.message).toMatch(/^output\.count: must be integer/);
    expect(error.retryable).toBe(false);
    const nested = await failure(
      checked(h.runtime).execute(
        invoke(agent, { mode: 'output', output: { count: 1, items: [{ n: 1 }, {}] } }),
        context(),
      ),
    );
    expect(nested.message).toMatch(/^output\.items\[1\]\.n: is required/);
    expect(
      await checked(h.runtime).execute(
        invoke(agent, { mode: 'output', output: { count: 1, items: [] } }),
        context(),
      ),
    ).toEqual({ count: 1, items: [] });
  });

  it('checks the input against input_schema before starting anything (checked by dispatch)', async () => {
    const agent = probe({
      inputSchema: { type: 'object', required: ['text'], properties: { text: { type: 'string' } } },
    });
    const error = await failure(
      checked(h.runtime).execute(invoke(agent, { mode: 'echo', text: 5 }), context()),
    );
    expect(error).toMatchObject({
      code: 'INPUT_INVALID',
      retryable: false,
      message: 'input.text: must be string',
    });
  });

  it('fails output that is too large, a long line or too many bytes in all', async () => {
    const small = harness('auto', { stdoutBytes: 64 * 1024, lineBytes: 4096 });
    try {
      const flood = await failure(
        small.runtime.execute(invoke(probe(), { mode: 'flood', lines: 1000 }), context()),
      );
      expect(flood.message).toMatch(/^output too large: stdout holds more than 65536 bytes in all/);
      expect(flood.retryable).toBe(false);
      const long = await failure(
        small.runtime.execute(invoke(probe(), { mode: 'longline', bytes: 5000 }), context()),
      );
      expect(long.message).toMatch(/^output too large: a stdout line is longer than 4096 bytes/);
      // Under the bounds, the same agents succeed.
      expect(await small.runtime.execute(invoke(probe(), { mode: 'flood', lines: 10 }), context())).toEqual({
        ok: true,
      });
      expect(workFolders(small.home)).toEqual([]);
    } finally {
      small.close();
    }
  });

  it('reports a missing output, two outputs, an error line and a non-zero exit clearly', async () => {
    const none = await failure(h.runtime.execute(invoke(probe(), { mode: 'nooutput' }), context()));
    expect(none.message).toMatch(/exited with code 0 without writing an output line/);
    expect(none.message).toContain('output line: output is required');
    const twice = await failure(h.runtime.execute(invoke(probe(), { mode: 'twice' }), context()));
    expect(twice.message).toMatch(/2 output lines; exactly one is expected/);
    const error = await failure(
      h.runtime.execute(invoke(probe(), { mode: 'error', retryable: false }), context()),
    );
    expect(error).toMatchObject({ message: 'agent error: it broke: ', retryable: false });
    const retry = await failure(h.runtime.execute(invoke(probe(), { mode: 'error' }), context()));
    expect(retry.retryable).toBe(true);
    const exit = await failure(h.runtime.execute(invoke(probe(), { mode: 'exit', code: 7 }), context()));
    expect(exit.message).toBe('the agent exited with code 7; stderr: first complaint | last words');
    expect(exit.retryable).toBe(true);
  });

  it('logs stderr, stray stdout and reports (usage, message, artifact), and hands reports to the worker', async () => {
    const ctx = context();
    expect(await h.runtime.execute(invoke(probe(), { mode: 'report' }), ctx)).toEqual({ ok: true });
    expect(ctx.reports).toEqual([
      { kind: 'usage', tokens: 15, inputTokens: 10, outputTokens: 5, cost: 0.25, model: 'm' },
      { kind: 'usage', tokens: 3, cost: 0.5 },
      { kind: 'message', to: 'reviewer', messageType: 'request', content: { text: 'please check' } },
      {
        kind: 'artifact',
        name: 'report.txt',
        contentType: 'text/plain',
        content: 'hello',
        encoding: null,
        path: null,
        bytes: 5,
      },
    ]);
    const logged = ctx.logs.map((l) => [l.level, l.message, l.metadata?.stream ?? l.metadata?.report]);
    expect(logged).toEqual(
      expect.arrayContaining([
        ['info', 'agent reported usage: 15 tokens, cost 0.25', 'usage'],
        ['info', 'agent reported message to reviewer', 'message'],
        ['info', 'agent reported artifact report.txt', 'artifact'],
        ['warning', 'token is none', 'agent'],
        ['warning', '{"type":"frobnicate"}', 'stdout'],
        ['info', 'plain text line', 'stdout'],
        ['info', 'a warning on stderr', 'stderr'],
        ['info', 'usage in all: 18 tokens, cost 0.75', 'usage-total'],
      ]),
    );
  });

  it('publishes event lines only with the event:emit permission, keyed by task', async () => {
    const denied = await failure(h.runtime.execute(invoke(probe(), { mode: 'events' }), context()));
    expect(denied).toMatchObject({ code: 'FORBIDDEN', retryable: false });
    expect(denied.message).toMatch(/without the event:emit permission/);
    const events = new MemoryEventSink();
    const call = invoke(probe({ permissions: ['event:emit'] }), { mode: 'events' }, { taskId: 'task-ev' });
    expect(await h.runtime.execute(call, context({ events }))).toEqual({ emitted: 2 });
    expect(events.events).toEqual([
      expect.objectContaining({
        ownerId: 'owner-1',
        source: 'agent:probe',
        type: 'thing.happened',
        payload: { n: 1 },
        runId: 'run-1',
        taskId: 'task-ev',
        idempotencyKey: 'task:task-ev:event-1',
      }),
      expect.objectContaining({ source: 'crm', type: 'thing.done', idempotencyKey: 'task:task-ev:done' }),
    ]);
  });

  it('kills what the agent left running when it exits', async () => {
    // Unisolated: the pids the agent logs are the worker's to look up (isolated, they are its
    // namespace's, all of which the kernel ends with the namespace).
    const unisolated = harness('auto', {}, 'none');
    try {
      const ctx = context();
      expect(await unisolated.runtime.execute(invoke(probe(), { mode: 'background' }), ctx)).toEqual({
        ok: true,
      });
      await expectGone(await loggedPids(ctx));
    } finally {
      unisolated.close();
    }
  });

  it('says clearly when the agent code cannot be found', async () => {
    const noFolder = await failure(h.runtime.execute(invoke(probe({ folder: null }), {}), context()));
    expect(noFolder.message).toMatch(/registered without its code folder/);
    const gone = await failure(
      h.runtime.execute(invoke(probe({ folder: path.join(FIXTURES, 'nowhere') }), {}), context()),
    );
    expect(gone.message).toMatch(/its code folder .*nowhere does not exist on this worker/);
    const escape = await failure(
      h.runtime.execute(
        invoke(probe({ runtime: { type: 'node', entry: '../probe-py/probe.py' } }), {}),
        context(),
      ),
    );
    expect(escape.message).toMatch(/resolves outside its folder/);
    expect([noFolder, gone, escape].every((e) => !e.retryable)).toBe(true);
  });
});

const LIMIT_CASES = MECHANISMS.flatMap((memory) =>
  ISOLATIONS.map((isolation) => [memory, isolation] as const),
);

describe.each(LIMIT_CASES)('limits with memory enforced by %s, isolation %s', (memory, isolation) => {
  let h: Harness;
  beforeAll(() => {
    h = harness(memory, {}, isolation);
  });
  /** The logged pids are the host's only without isolation (see above). */
  const expectTreeGone = async (pids: Record<string, number>) => {
    if (isolation === 'none') await expectGone(pids);
  };
  afterAll(() => h.close());

  it('ends a node agent that allocates past memory_mb, and nothing of it remains', async () => {
    const ctx = context();
    const error = await failure(h.runtime.execute(invoke(probe({ memoryMb: 96 }), { mode: 'hog' }), ctx));
    expect(error.message).toMatch(/^memory limit exceeded: the agent used more than its 96 MB/);
    expect(error.retryable).toBe(false);
    await expectTreeGone(await loggedPids(ctx));
    expect(workFolders(h.home)).toEqual([]);
  });

  it('ends a python agent that allocates past memory_mb, and nothing of it remains', async () => {
    const ctx = context();
    const error = await failure(h.runtime.execute(invoke(probePy({ memoryMb: 64 }), { mode: 'hog' }), ctx));
    expect(error.message).toMatch(/^memory limit exceeded/);
    await expectTreeGone(await loggedPids(ctx));
  });

  it('lets an agent that stays under its limit finish', async () => {
    const out = await h.runtime.execute(
      invoke(probe({ memoryMb: 512 }), { mode: 'hog', maxMb: 64 }),
      context(),
    );
    expect(out).toEqual({ allocatedMb: 64 });
  });

  it('kills the whole tree on abort (timeout, cancel), a child that left the group included', async () => {
    for (const agent of [probe(), probePy()]) {
      const controller = new AbortController();
      const ctx = context({ signal: controller.signal });
      const running = h.runtime.execute(invoke(agent, { mode: 'sleep' }), ctx);
      const pids = await loggedPids(ctx);
      const reason = new Error('TIMEOUT: attempt exceeded 1000 ms');
      controller.abort(reason);
      await expect(running).rejects.toBe(reason);
      await expectTreeGone(pids);
    }
    expect(workFolders(h.home)).toEqual([]);
  });
});

describe('the dispatch runtime', () => {
  it('sends builtin agents to the builtin runtime and process agents to the process runtime', async () => {
    const h = harness();
    try {
      const runtime: Runtime = new DispatchRuntime({
        builtin: new BuiltinRuntime({ http: LOOSE_POLICY }),
        node: h.runtime,
        python: h.runtime,
        binary: h.runtime,
      });
      const builtin = invoke(
        { name: 'builtin/transform', version: '1.0.0', runtime: { type: 'builtin', name: 'transform' } },
        { a: 1 },
      );
      expect(await runtime.execute(builtin, context())).toEqual({ a: 1 });
      expect(await runtime.execute(invoke(probe(), { mode: 'echo', value: 2 }), context())).toBe(2);
      for (const type of ['http', 'llm']) {
        const error = await failure(
          runtime.execute(invoke(probe({ runtime: { type, provider: 'x' } }), {}), context()),
        );
        expect(error.message).toMatch(/not available yet in this version of Swarm/);
        expect(error.retryable).toBe(false);
      }
    } finally {
      h.close();
    }
  });

  it("checks a user agent's own schemas whatever its runtime, builtin ones included", async () => {
    const runtime: Runtime = new DispatchRuntime({ builtin: new BuiltinRuntime({ http: LOOSE_POLICY }) });
    // The example greeter: builtin transform under a schema that requires a name.
    const greeter = {
      name: 'greeter',
      version: '1.0.0',
      runtime: { type: 'builtin', name: 'transform' },
      inputSchema: {
        type: 'object',
        required: ['name'],
        properties: { name: { type: 'string', minLength: 1 } },
      },
      outputSchema: { type: 'object', required: ['name'], properties: { greeting: { type: 'string' } } },
    };
    const missing = await failure(runtime.execute(invoke(greeter, {}), context()));
    expect(missing).toMatchObject({
      code: 'INPUT_INVALID',
      retryable: false,
      message: 'input.name: is required',
    });
    const badOutput = await failure(
      runtime.execute(invoke(greeter, { name: 'Ada', greeting: 5 }), context()),
    );
    expect(badOutput.message).toMatch(/^output\.greeting: must be string: the agent's output does not match/);
    expect(badOutput.retryable).toBe(false);
    expect(await runtime.execute(invoke(greeter, { name: 'Ada' }), context())).toEqual({ name: 'Ada' });
  });
});
