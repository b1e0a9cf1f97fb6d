import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config/index.js';
import { enqueueTasks } from '../../src/queue/index.js';
import { DatabaseEventSink, DispatchRuntime, type Runtime } from '../../src/runtimes/index.js';
import { openKeyring, SecretsService } from '../../src/secrets/index.js';
import { createWorker, Worker } from '../../src/worker/index.js';
import { DIALECTS } from '../helpers/databases.js';
import { engineFixture, type EngineFixture } from '../engine/helpers.js';
import { FIXTURES } from '../runtimes/process-helpers.js';
import { until } from '../helpers/until.js';

// Characters that URL-encode, JSON-escape and base64 differently from the plain text.
const TOKEN = `tok/${randomBytes(6).toString('hex')}+sec ret="x"&y=1`;
const GLOBAL_TOKEN = `global-${randomBytes(8).toString('hex')}`;
const OTHER = `other-${randomBytes(8).toString('hex')}`;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The forms of `value` found in `text`, by name only: a failing assertion never shows the value. */
function leaks(text: string, value = TOKEN): string[] {
  const bytes = Buffer.from(value);
  const forms: Record<string, string> = {
    plain: value,
    'json-escaped': JSON.stringify(value).slice(1, -1),
    'url-encoded': encodeURIComponent(value),
    base64: bytes.toString('base64'),
    'base64 (no padding)': bytes.toString('base64').replace(/=+$/, ''),
    base64url: bytes.toString('base64url'),
    hex: bytes.toString('hex'),
  };
  return Object.entries(forms)
    .filter(([, form]) => text.includes(form))
    .map(([name]) => name);
}

const textOf = (value: unknown): string =>
  typeof value === 'string' ? value : JSON.stringify(value ?? null);

describe.each(DIALECTS)('secrets in the worker on %s', (dialect) => {
  let fx: EngineFixture;
  let config: Config;
  let secrets: SecretsService;
  let worker: Worker | undefined;
  let logged: string[];

  beforeEach(async () => {
    fx = await engineFixture(dialect);
    config = loadConfig({
      DATABASE_URL: fx.testDb.url,
      SWARM_HOME: fx.testDb.dir,
      SWARM_MASTER_KEY: randomBytes(32).toString('base64'),
    });
    secrets = new SecretsService(fx.store, openKeyring(config));
    logged = [];
  });
  afterEach(async () => {
    await worker?.stop(1000);
    worker = undefined;
    await fx.close();
  });

  /** A worker as `swarm worker` builds it: its own keyring from the same configuration. */
  function startWorker(): Worker {
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logged.push(chunk.toString('utf8'));
        done();
      },
    });
    worker = createWorker(fx.store, fx.engine, config, pino({ level: 'debug' }, sink), { concurrency: 4 });
    worker.start();
    return worker;
  }

  async function registerProbe(name: string, permissions: string[]): Promise<void> {
    await fx.registry.as(fx.caller).agents.register(
      {
        name,
        version: '1.0.0',
        type: 'execution',
        capabilities: ['test:probe'],
        runtime: { type: 'node', entry: 'probe.js' },
        permissions,
      },
      { path: path.join(FIXTURES, 'probe') },
    );
  }

  async function apply(name: string, steps: Array<Record<string, unknown>>): Promise<void> {
    await fx.registry.as(fx.caller).workflows.apply({ name, version: '1.0.0', steps });
  }

  async function run(workflowName: string, input: unknown = {}) {
    const { workflows, agents } = fx.registry.as(fx.caller);
    const id = await fx.engine.startRun(fx.caller, await workflows.get(workflowName), agents, { input });
    worker?.notify();
    return until(`run ${id} to end`, async () => {
      const view = await fx.engine.getRun(fx.caller, id);
      return ['completed', 'failed', 'cancelled', 'timeout'].includes(view.status) ? view : undefined;
    });
  }

  const tasksOf = (runId: string) =>
    fx.store.handle.db.selectFrom('tasks').selectAll().where('run_id', '=', runId).execute();
  const logsOf = (runId: string) =>
    fx.store.handle.db
      .selectFrom('execution_logs')
      .selectAll()
      .where('run_id', '=', runId)
      .orderBy('id')
      .execute();
  const runRow = (runId: string) =>
    fx.store.handle.db
      .selectFrom('workflow_runs')
      .selectAll()
      .where('id', '=', runId)
      .executeTakeFirstOrThrow();

  it('puts a granted secret in the agent environment, a workflow-scoped one before the global one, and nothing else', async () => {
    await registerProbe('granted', ['secret:API_TOKEN']);
    await registerProbe('plain', []);
    await apply('w-env', [
      { id: 'granted', agent: 'granted@1.0.0', input: { mode: 'envnames', name: 'API_TOKEN' } },
      { id: 'plain', agent: 'plain@1.0.0', input: { mode: 'envnames', name: 'API_TOKEN' } },
    ]);
    await apply('w-global', [
      { id: 'granted', agent: 'granted@1.0.0', input: { mode: 'envnames', name: 'API_TOKEN' } },
    ]);
    await secrets.set(fx.caller, { name: 'API_TOKEN', value: GLOBAL_TOKEN });
    await secrets.set(fx.caller, { name: 'API_TOKEN', value: TOKEN, workflow: 'w-env' });
    await secrets.set(fx.caller, { name: 'OTHER_TOKEN', value: OTHER });
    startWorker();

    const ended = await run('w-env');
    expect(ended.status).toBe('completed');
    const granted = ended.steps.granted!.output as { names: string[]; digest: string | null };
    const plain = ended.steps.plain!.output as { names: string[]; digest: string | null };
    expect(granted.names).toEqual(['API_TOKEN', 'HOME', 'LANG', 'PATH', 'TMPDIR']);
    // The workflow's own value, not the global one (compared by digest: no value in a failure).
    expect(granted.digest === sha256(TOKEN), 'the workflow-scoped value reached the agent').toBe(true);
    expect(plain.names).toEqual(['HOME', 'LANG', 'PATH', 'TMPDIR']);
    expect(plain.digest).toBeNull();

    // Another workflow gets the global value.
    const other = await run('w-global');
    expect(other.status).toBe('completed');
    const global = other.steps.granted!.output as { digest: string | null };
    expect(global.digest === sha256(GLOBAL_TOKEN), 'the global value reached the agent').toBe(true);
  });

  it('redacts a secret the agent prints from task results, step outputs, execution logs, events and the worker log', async () => {
    await registerProbe('leaker', ['secret:API_TOKEN', 'event:emit']);
    await apply('w-leak', [
      { id: 'leak', agent: 'leaker@1.0.0', input: { mode: 'leak', name: 'API_TOKEN', emit: true } },
    ]);
    await secrets.set(fx.caller, { name: 'API_TOKEN', value: TOKEN });
    startWorker();

    const ended = await run('w-leak');
    expect(ended.status).toBe('completed');

    const [task] = await tasksOf(ended.id);
    const result = textOf(task!.result_data);
    expect(leaks(result), 'tasks.result_data').toEqual([]);
    expect(JSON.parse(result)).toEqual({
      plain: '[REDACTED:API_TOKEN]',
      base64: '[REDACTED:API_TOKEN]',
      url: 'https://example.com/?token=[REDACTED:API_TOKEN]',
      nested: [{ header: 'Bearer [REDACTED:API_TOKEN]' }],
      '[REDACTED:API_TOKEN]': 'as a key',
    });

    const row = await runRow(ended.id);
    expect(leaks(textOf(row.step_results)), 'workflow_runs.step_results').toEqual([]);
    expect(leaks(textOf(row.result)), 'workflow_runs.result').toEqual([]);
    expect(textOf(row.step_results)).toContain('[REDACTED:API_TOKEN]');
    expect((ended.steps.leak!.output as { plain: string }).plain).toBe('[REDACTED:API_TOKEN]');

    const logs = await logsOf(ended.id);
    const stored = logs.map((l) => `${l.message} ${textOf(l.metadata)}`).join('\n');
    expect(leaks(stored), 'execution_logs').toEqual([]);
    const agentLines = logs.filter((l) => l.event_type === 'execution').map((l) => l.message);
    expect(agentLines).toEqual(
      expect.arrayContaining([
        'the token is [REDACTED:API_TOKEN]',
        'stdout text [REDACTED:API_TOKEN]',
        'stderr says [REDACTED:API_TOKEN]',
      ]),
    );
    const agentLine = logs.find((l) => l.message === 'the token is [REDACTED:API_TOKEN]')!;
    expect(agentLine).toMatchObject({ level: 'warning', step_id: 'leak', task_id: task!.id });
    expect(JSON.parse(textOf(agentLine.metadata))).toMatchObject({
      token: '[REDACTED:API_TOKEN]',
      attempt: 1,
    });
    // The agent's lines come before the engine's record of the step's end.
    const completedAt = logs.findIndex((l) => l.message.startsWith('step leak completed'));
    expect(completedAt).toBeGreaterThan(logs.indexOf(agentLine));

    const events = await fx.store.handle.db
      .withTables<{ events: { type: string; payload: string } }>()
      .selectFrom('events')
      .selectAll()
      .where('type', '=', 'leaked')
      .execute();
    expect(events).toHaveLength(1);
    expect(leaks(textOf(events[0]!.payload)), 'events.payload').toEqual([]);
    expect(JSON.parse(textOf(events[0]!.payload))).toEqual({ token: '[REDACTED:API_TOKEN]' });

    expect(leaks(logged.join('')), "the worker's own log").toEqual([]);
    expect(logged.join('')).toContain('the token is [REDACTED:API_TOKEN]');
  });

  it('redacts a secret from the error of a failed attempt (tasks.error_message, the run, its log)', async () => {
    await registerProbe('leaker', ['secret:API_TOKEN']);
    await apply('w-leak-error', [
      { id: 'leak', agent: 'leaker@1.0.0', input: { mode: 'leak', name: 'API_TOKEN', fail: true } },
    ]);
    await apply('w-leak-exit', [
      // Exits non-zero: the error quotes the end of stderr.
      {
        id: 'leak',
        agent: 'leaker@1.0.0',
        input: { mode: 'leak', name: 'API_TOKEN', exitCode: 3 },
        retry: { max_attempts: 1 },
      },
    ]);
    await secrets.set(fx.caller, { name: 'API_TOKEN', value: TOKEN });
    startWorker();

    const ended = await run('w-leak-error');
    expect(ended.status).toBe('failed');
    const [task] = await tasksOf(ended.id);
    expect(task!.status).toBe('FAILED');
    expect(leaks(task!.error_message ?? ''), 'tasks.error_message').toEqual([]);
    expect(task!.error_message).toBe('agent error: it broke holding [REDACTED:API_TOKEN]');
    const row = await runRow(ended.id);
    expect(leaks(`${row.error ?? ''} ${textOf(row.step_results)}`), 'workflow_runs').toEqual([]);
    const logs = (await logsOf(ended.id)).map((l) => `${l.message} ${textOf(l.metadata)}`).join('\n');
    expect(leaks(logs), 'execution_logs').toEqual([]);
    expect(logs).toContain('step leak failed: agent error: it broke holding [REDACTED:API_TOKEN]');

    const exited = await run('w-leak-exit');
    expect(exited.status).toBe('failed');
    const [exitTask] = await tasksOf(exited.id);
    expect(leaks(exitTask!.error_message ?? ''), 'tasks.error_message').toEqual([]);
    expect(exitTask!.error_message).toMatch(
      /^the agent exited with code 3; stderr: .*stderr says \[REDACTED:API_TOKEN\]/,
    );
    expect(leaks(logged.join('')), "the worker's own log").toEqual([]);
  });

  it('fails a step whose agent is granted a secret that is not set, naming it, without retrying or starting the agent', async () => {
    await registerProbe('needy', ['secret:API_TOKEN', 'secret:MISSING_TOKEN']);
    await apply('w-needy', [
      {
        id: 'needy',
        agent: 'needy@1.0.0',
        input: { mode: 'envnames' },
        retry: { max_attempts: 3, backoff: 'fixed', initial_delay_ms: 100 },
      },
    ]);
    await secrets.set(fx.caller, { name: 'API_TOKEN', value: TOKEN });
    startWorker();

    const ended = await run('w-needy');
    expect(ended.status).toBe('failed');
    const [task] = await tasksOf(ended.id);
    expect(task).toMatchObject({ status: 'FAILED', retry_count: 0 });
    expect(task!.error_message).toMatch(
      /^agent needy@1\.0\.0 is granted secret:MISSING_TOKEN, but secret MISSING_TOKEN is not set: set it with `swarm secrets set MISSING_TOKEN` \(globally, or for this workflow with --workflow w-needy\)$/,
    );
    expect(ended.steps.needy!.error).toContain('MISSING_TOKEN');
    expect(leaks(textOf(await logsOf(ended.id))), 'execution_logs').toEqual([]);
    // The agent never ran: no line of it in the log.
    expect((await logsOf(ended.id)).filter((l) => l.event_type === 'execution')).toEqual([]);
  });
});

describe.each(DIALECTS)('the worker redacts whatever runtime it runs on %s', (dialect) => {
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

  it('passes only the granted secrets as context.secrets, and redacts logs, outputs and errors itself', async () => {
    const config = loadConfig({
      DATABASE_URL: fx.testDb.url,
      SWARM_HOME: fx.testDb.dir,
      SWARM_MASTER_KEY: randomBytes(32).toString('hex'),
    });
    const secrets = new SecretsService(fx.store, openKeyring(config));
    await secrets.set(fx.caller, { name: 'API_TOKEN', value: TOKEN });
    await secrets.set(fx.caller, { name: 'OTHER_TOKEN', value: OTHER });
    for (const name of ['echoer', 'thrower'])
      await fx.registry.as(fx.caller).agents.register(
        {
          name,
          version: '1.0.0',
          type: 'execution',
          capabilities: ['test:fake'],
          runtime: { type: 'node', entry: 'probe.js' },
          permissions: ['secret:API_TOKEN'],
        },
        { path: path.join(FIXTURES, 'probe') },
      );
    const seen: string[][] = [];
    const logged: string[] = [];
    // Stands in for the node runtime and does no redaction of its own: the worker's is all there is.
    const fake: Runtime = {
      async execute(invocation, context) {
        const value = context.secrets?.API_TOKEN ?? '';
        seen.push(Object.keys(context.secrets ?? {}));
        context.log('info', `fake says ${value}`, { value });
        if (invocation.agent.name === 'thrower') throw new Error(`thrown with ${value}`);
        return { value, encoded: Buffer.from(value).toString('base64url'), [value]: 1 };
      },
    };
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logged.push(chunk.toString('utf8'));
        done();
      },
    });
    worker = new Worker({
      store: fx.store,
      engine: fx.engine,
      runtime: new DispatchRuntime({ node: fake }),
      events: new DatabaseEventSink(fx.store),
      logger: pino({ level: 'debug' }, sink),
      secrets,
    });
    worker.start();
    const ids = await enqueueTasks(
      fx.store.handle.db,
      fx.store.handle.dialect,
      ['echoer', 'thrower'].map((agentName) => ({
        ownerId: fx.caller.userId,
        taskType: 'fake',
        agentName,
        agentVersion: '1.0.0',
        input: {},
        maxRetries: 0,
      })),
    );
    worker.notify();
    const rows = await until('both tasks to end', async () => {
      const found = await fx.store.handle.db
        .selectFrom('tasks')
        .selectAll()
        .where('id', 'in', ids)
        .where('status', 'in', ['COMPLETED', 'FAILED'])
        .execute();
      return found.length === 2 ? found : undefined;
    });
    expect(seen).toEqual([['API_TOKEN'], ['API_TOKEN']]);
    const done = rows.find((r) => r.id === ids[0])!;
    const failed = rows.find((r) => r.id === ids[1])!;
    expect(done.status).toBe('COMPLETED');
    expect(leaks(textOf(done.result_data)), 'result_data').toEqual([]);
    expect(JSON.parse(textOf(done.result_data))).toEqual({
      value: '[REDACTED:API_TOKEN]',
      encoded: '[REDACTED:API_TOKEN]',
      '[REDACTED:API_TOKEN]': 1,
    });
    expect(failed.status).toBe('FAILED');
    expect(leaks(failed.error_message ?? ''), 'error_message').toEqual([]);
    expect(failed.error_message).toBe('thrown with [REDACTED:API_TOKEN]');
    expect(leaks(logged.join('')), "the worker's own log").toEqual([]);
    expect(logged.join('')).toContain('fake says [REDACTED:API_TOKEN]');
  });

  it("keeps a run's agent log lines in its execution log: odd text stored, at most maxLogLinesPerAttempt", async () => {
    const { agents, workflows } = fx.registry.as(fx.caller);
    await agents.register(
      {
        name: 'chatty',
        version: '1.0.0',
        type: 'execution',
        capabilities: ['test:fake'],
        runtime: { type: 'node', entry: 'probe.js' },
      },
      { path: path.join(FIXTURES, 'probe') },
    );
    const chatty: Runtime = {
      async execute(_invocation, context) {
        // PostgreSQL refuses NUL and unpaired surrogates in text and JSONB.
        context.log('info', 'nul \u0000 and \ud800 here', { odd: '\udc00\u0000', ['k\u0000']: 1 });
        for (let i = 0; i < 10; i++) context.log('debug', `line ${i}`);
        return { ok: true };
      },
    };
    worker = new Worker({
      store: fx.store,
      engine: fx.engine,
      runtime: new DispatchRuntime({ node: chatty }),
      events: new DatabaseEventSink(fx.store),
      logger: pino({ level: 'silent' }),
      maxLogLinesPerAttempt: 5,
    });
    worker.start();
    const { workflow } = await workflows.apply({
      name: 'w-chatty',
      version: '1.0.0',
      steps: [{ id: 'talk', agent: 'chatty@1.0.0' }],
    });
    const id = await fx.engine.startRun(fx.caller, workflow, agents, { input: {} });
    worker.notify();
    await until(
      'the run to complete',
      async () => (await fx.engine.getRun(fx.caller, id)).status === 'completed',
    );
    const lines = await fx.store.handle.db
      .selectFrom('execution_logs')
      .selectAll()
      .where('run_id', '=', id)
      .where('event_type', '=', 'execution')
      .orderBy('id')
      .execute();
    expect(lines.map((l) => l.message)).toEqual([
      'nul \ufffd and \ufffd here',
      'line 0',
      'line 1',
      'line 2',
      'line 3',
      "more than 5 log lines: the rest of this attempt's lines are not kept",
    ]);
    expect(JSON.parse(textOf(lines[0]!.metadata))).toEqual({ odd: '\ufffd\ufffd', 'k\ufffd': 1, attempt: 1 });
    expect(lines.map((l) => l.level)).toEqual(['info', 'debug', 'debug', 'debug', 'debug', 'warning']);
  });

  it('fails an attempt of an agent granted a secret when the worker has no secrets service', async () => {
    await fx.registry.as(fx.caller).agents.register(
      {
        name: 'needy',
        version: '1.0.0',
        type: 'execution',
        capabilities: ['test:fake'],
        runtime: { type: 'node', entry: 'probe.js' },
        permissions: ['secret:API_TOKEN'],
      },
      { path: path.join(FIXTURES, 'probe') },
    );
    let ran = false;
    worker = new Worker({
      store: fx.store,
      engine: fx.engine,
      runtime: new DispatchRuntime({ node: { execute: async () => (ran = true) } }),
      events: new DatabaseEventSink(fx.store),
      logger: pino({ level: 'silent' }),
    });
    worker.start();
    const [id] = await enqueueTasks(fx.store.handle.db, fx.store.handle.dialect, [
      { ownerId: fx.caller.userId, taskType: 'x', agentName: 'needy', agentVersion: '1.0.0', input: {} },
    ]);
    worker.notify();
    const row = await until('the task to fail', () =>
      fx.store.handle.db
        .selectFrom('tasks')
        .selectAll()
        .where('id', '=', id!)
        .where('status', '=', 'FAILED')
        .executeTakeFirst(),
    );
    expect(ran).toBe(false);
    expect(row.retry_count).toBe(0);
    expect(row.error_message).toBe(
      'agent needy@1.0.0 is granted secret:API_TOKEN, but this worker was started without access to secrets',
    );
  });
});
