import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import {
  flushTracing,
  newRunTrace,
  startTracing,
  tracingEnabled,
  tracingSettings,
} from '../../src/telemetry/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { MAIN, waitFor } from '../helpers/swarm-process.js';
import { until } from '../helpers/until.js';
import { startFakeLlm, type FakeLlm } from '../runtimes/llm-server.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './otlp-receiver.js';

const SERVER = 2;
const CONSUMER = 5;
const CLIENT = 3;
const HELLO_STEPS = ['greet', 'check', 'answer'];

describe('tracing settings', () => {
  it('are off without an OTLP endpoint, and name the traces URL and service otherwise', () => {
    expect(tracingSettings({})).toBeNull();
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: '  ' })).toBeNull();
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/' })).toEqual({
      url: 'http://c:4318/v1/traces',
      serviceName: 'swarm',
    });
    expect(
      tracingSettings({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:4318/custom',
        OTEL_SERVICE_NAME: 'swarm-eu',
      }),
    ).toEqual({ url: 'http://t:4318/custom', serviceName: 'swarm-eu' });
    expect(
      tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }),
    ).toBeNull();
  });
});

describe.each(DIALECTS)('with tracing off on %s', { timeout: 60_000 }, (dialect) => {
  it('stores no trace context with runs or tasks', async () => {
    expect(tracingEnabled()).toBe(false);
    expect(newRunTrace()).toBeNull();
    const testDb = await createTestDatabase(dialect);
    const server = await startServer(
      loadConfig({
        DATABASE_URL: testDb.url,
        SWARM_HOME: path.join(testDb.dir, 'home'),
        SWARM_PORT: '0',
        SWARM_LOG_LEVEL: 'silent',
      }),
    );
    try {
      const res = await fetch(`${server.url}/api/v1/workflows/hello/runs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.bootstrapped!.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ input: {} }),
      });
      const { id } = (await res.json()) as { id: string };
      const { db } = server.store.handle;
      await until('the run to complete', async () => {
        const run = await db
          .selectFrom('workflow_runs')
          .select('status')
          .where('id', '=', id)
          .executeTakeFirst();
        return run?.status === 'completed';
      });
      const run = await db
        .selectFrom('workflow_runs')
        .select('trace_context')
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      const tasks = await db.selectFrom('tasks').select('trace_context').where('run_id', '=', id).execute();
      expect(run.trace_context).toBeNull();
      expect(tasks.map((t) => t.trace_context)).toEqual([null, null, null]);
    } finally {
      await server.close();
      await testDb.drop();
    }
  });
});

/** The spans of one trace. */
function traceOf(spans: readonly ReceivedSpan[], traceId: string): ReceivedSpan[] {
  return spans.filter((s) => s.traceId === traceId);
}

describe.each(DIALECTS)('traces of runs on %s', { timeout: 120_000 }, (dialect) => {
  let receiver: OtlpReceiver;
  let stopTracing: () => Promise<void>;
  let testDb: TestDatabase;
  let server: RunningServer | null = null;
  let worker: ChildProcess | null = null;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    // The server side runs in this process: its HTTP spans and the runs' reserved spans.
    stopTracing = await startTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url });
    expect(tracingEnabled()).toBe(true);
  });
  afterAll(async () => {
    await stopTracing();
    expect(tracingEnabled()).toBe(false);
    await receiver.close();
  });
  afterEach(async () => {
    if (worker !== null && worker.exitCode === null) {
      const exited = new Promise((resolve) => worker!.once('exit', resolve));
      worker.kill('SIGTERM');
      await exited;
    }
    worker = null;
    await server?.close();
    server = null;
    await testDb.drop();
  });

  async function start(env: Record<string, string> = {}): Promise<{ url: string; key: string }> {
    testDb = await createTestDatabase(dialect);
    server = await startServer(
      loadConfig({
        DATABASE_URL: testDb.url,
        SWARM_HOME: path.join(testDb.dir, 'home'),
        SWARM_PORT: '0',
        SWARM_LOG_LEVEL: 'silent',
        ...env,
      }),
    );
    return { url: server.url, key: server.bootstrapped!.key };
  }

  async function api(base: { url: string; key: string }, method: string, route: string, body?: unknown) {
    const res = await fetch(`${base.url}${route}`, {
      method,
      headers: {
        authorization: `Bearer ${base.key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    expect(res.status, `${method} ${route}: ${text}`).toBeLessThan(300);
    return JSON.parse(text) as Record<string, unknown>;
  }

  async function runToEnd(base: { url: string; key: string }, workflow: string, input: unknown) {
    const { id } = (await api(base, 'POST', `/api/v1/workflows/${workflow}/runs`, { input })) as {
      id: string;
    };
    const run = await until(`run ${id} to end`, async () => {
      const view = await api(base, 'GET', `/api/v1/runs/${id}`);
      return view.status === 'running' || view.status === 'pending' ? null : view;
    });
    return { id, status: run.status };
  }

  /** Waits until the receiver holds the run's span (recorded at its end) and its steps'. */
  async function spansOfRun(runId: string, steps: readonly string[]): Promise<ReceivedSpan[]> {
    return until(`the spans of run ${runId}`, async () => {
      await flushTracing();
      const run = receiver.spans.find(
        (s) => s.attributes['swarm.run.id'] === runId && s.name.startsWith('run '),
      );
      if (run === undefined) return null;
      const trace = traceOf(receiver.spans, run.traceId);
      const names = new Set(trace.map((s) => s.name));
      return steps.every((step) => names.has(`step ${step}`)) ? trace : null;
    });
  }

  /** The run span, a child of the request that started it; each step a child of the run span. */
  function expectRunTrace(trace: ReceivedSpan[], runId: string, workflow: string, steps: readonly string[]) {
    const runSpans = trace.filter((s) => s.name === `run ${workflow}`);
    expect(runSpans).toHaveLength(1);
    const run = runSpans[0]!;
    expect(run.attributes).toMatchObject({
      'swarm.run.id': runId,
      'swarm.workflow.name': workflow,
      'swarm.run.status': 'completed',
      'swarm.run.attempt': 1,
    });
    const request = trace.find((s) => s.spanId === run.parentSpanId);
    expect(request, 'the request span that started the run').toMatchObject({
      kind: SERVER,
      name: 'POST /api/v1/workflows/:name/runs',
      parentSpanId: '',
      attributes: { 'http.request.method': 'POST', 'http.response.status_code': 202 },
    });
    for (const step of steps) {
      const spans = trace.filter((s) => s.name === `step ${step}`);
      expect(spans, step).toHaveLength(1);
      expect(spans[0]).toMatchObject({
        kind: CONSUMER,
        parentSpanId: run.spanId,
        attributes: {
          'swarm.run.id': runId,
          'swarm.step.id': step,
          'swarm.task.attempt': 1,
          'swarm.task.status': 'completed',
        },
      });
      expect(spans[0]!.attributes['swarm.agent.version']).toEqual(expect.any(String));
      // The run span covers its steps: it starts before the first and ends after the last.
      expect(spans[0]!.startMs).toBeGreaterThanOrEqual(run.startMs);
      expect(spans[0]!.endMs).toBeLessThanOrEqual(run.endMs + 1);
    }
    return run;
  }

  it('makes one trace of a run: the API request, the run and each step, with the in-process worker', async () => {
    const base = await start();
    const { id, status } = await runToEnd(base, 'hello', { name: 'Grace Hopper' });
    expect(status).toBe('completed');
    const trace = await spansOfRun(id, HELLO_STEPS);
    const run = expectRunTrace(trace, id, 'hello', HELLO_STEPS);
    expect(new Set(trace.map((s) => s.service))).toEqual(new Set(['swarm']));
    // A later request is a trace of its own, and continues a caller's traceparent.
    const callerTrace = '0af7651916cd43dd8448eb211c80319c';
    await fetch(`${base.url}/api/v1/runs/${id}`, {
      headers: { authorization: `Bearer ${base.key}`, traceparent: `00-${callerTrace}-b7ad6b7169203331-01` },
    });
    const read = await until('the span of the GET', async () => {
      await flushTracing();
      return receiver.spans.find((s) => s.traceId === callerTrace);
    });
    expect(read).toMatchObject({
      name: 'GET /api/v1/runs/:id',
      kind: SERVER,
      parentSpanId: 'b7ad6b7169203331',
    });
    expect(read.traceId).not.toBe(run.traceId);
  });

  it('links the steps run by a separate `swarm worker` process into the run’s trace', async () => {
    const base = await start({ SWARM_WORKER: 'false' });
    const output = { text: '' };
    worker = spawn(process.execPath, [MAIN, 'worker', '--concurrency', '2'], {
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: testDb.url,
        SWARM_HOME: path.join(testDb.dir, 'home'),
        SWARM_LOG_LEVEL: 'silent',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_SERVICE_NAME: 'swarm-worker',
        OTEL_BSP_SCHEDULE_DELAY: '100',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    worker.stdout!.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
    worker.stderr!.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
    await waitFor(worker, output, /worker \S+ started/);
    const { id, status } = await runToEnd(base, 'hello', { name: 'Ada' });
    expect(status, output.text).toBe('completed');
    const trace = await spansOfRun(id, HELLO_STEPS);
    const run = expectRunTrace(trace, id, 'hello', HELLO_STEPS);
    // The request's span from this process; the steps' — and the run's, which the worker ended
    // with its last step — from the worker process, under the ids reserved here at the start.
    expect(trace.find((s) => s.kind === SERVER)!.service).toBe('swarm');
    expect(run.service).toBe('swarm-worker');
    for (const step of HELLO_STEPS)
      expect(trace.find((s) => s.name === `step ${step}`)!.service).toBe('swarm-worker');
  });

  describe('an LLM step', () => {
    let fake: FakeLlm;
    beforeAll(async () => {
      fake = await startFakeLlm();
    });
    afterAll(async () => {
      await fake.close();
    });

    it('is a chat span under its step with the GenAI attributes', async () => {
      const base = await start({ SWARM_LLM_ALLOWED_URLS: new URL(fake.url).origin });
      fake.reply = '{"summary":"Short."}';
      fake.usage = { input: 31, output: 4 };
      await api(base, 'PUT', '/api/v1/llm-providers/local-openai', {
        provider: 'custom',
        base_url: fake.url,
        model: 'model-s',
      });
      await api(base, 'POST', '/api/v1/workflows', {
        name: 'summary',
        version: '1.0.0',
        steps: [
          { id: 'prepare', agent: 'builtin/transform', input: { text: '{{ trigger.text }}' } },
          {
            id: 'summarise',
            agent: 'summarizer@^1.0.0',
            needs: ['prepare'],
            input: { text: '{{ steps.prepare.output.text }}' },
          },
        ],
      });
      const { id, status } = await runToEnd(base, 'summary', { text: 'A long text to make short.' });
      expect(status).toBe('completed');
      const trace = await spansOfRun(id, ['prepare', 'summarise']);
      expectRunTrace(trace, id, 'summary', ['prepare', 'summarise']);
      const step = trace.find((s) => s.name === 'step summarise')!;
      const chat = trace.filter((s) => s.kind === CLIENT);
      expect(chat).toHaveLength(1);
      // The model the call asked for (the agent's own, else the provider's default).
      const model = fake.requests.at(-1)!.body.model;
      expect(model).toEqual(expect.any(String));
      expect(chat[0]).toMatchObject({
        name: `chat ${String(model)}`,
        parentSpanId: step.spanId,
        attributes: {
          'gen_ai.operation.name': 'chat',
          'gen_ai.provider.name': 'custom',
          'gen_ai.request.model': model,
          'gen_ai.response.model': model,
          'gen_ai.usage.input_tokens': 31,
          'gen_ai.usage.output_tokens': 4,
          'server.address': '127.0.0.1',
          'swarm.llm.provider': 'local-openai',
        },
      });
    });
  });
});
