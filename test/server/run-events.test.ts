import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { bootstrapAdmin } from '../../src/auth/index.js';
import { SseParser, type ServerSentEvent } from '../../src/cli/client.js';
import { loadConfig } from '../../src/config/index.js';
import { Engine, type LogView } from '../../src/engine/index.js';
import { Registry } from '../../src/registry/index.js';
import { buildApp, startServer, type RunningServer } from '../../src/server/index.js';
import { problemSchema } from '../../src/server/problem.js';
import { openEventStreams } from '../../src/server/routes/run-events.js';
import { runRoutes, runSchema } from '../../src/server/routes/runs.js';
import { Store } from '../../src/storage/index.js';
import { drain, type EngineFixture } from '../engine/helpers.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { memberWithKey } from '../helpers/users.js';

interface Stream {
  readonly response: Response;
  /** The next event, or null once the server has closed the stream. */
  next(): Promise<ServerSentEvent | null>;
  /** Every event until the server closes the stream. */
  rest(): Promise<ServerSentEvent[]>;
  /** Everything received so far, comments included. */
  raw(): string;
  abort(): void;
}

async function openStream(url: string, key: string, headers: Record<string, string> = {}): Promise<Stream> {
  const controller = new AbortController();
  const response = await fetch(url, {
    headers: { authorization: `Bearer ${key}`, ...headers },
    signal: controller.signal,
  });
  const reader = response.body!.getReader();
  const parser = new SseParser();
  const decoder = new TextDecoder();
  const queue: ServerSentEvent[] = [];
  let raw = '';
  const stream: Stream = {
    response,
    async next() {
      while (queue.length === 0) {
        const { value, done } = await reader.read();
        if (done) return null;
        const text = decoder.decode(value, { stream: true });
        raw += text;
        queue.push(...parser.push(text));
      }
      return queue.shift()!;
    },
    async rest() {
      const events: ServerSentEvent[] = [];
      for (let event = await stream.next(); event !== null; event = await stream.next()) events.push(event);
      return events;
    },
    raw: () => raw,
    abort: () => controller.abort(),
  };
  return stream;
}

const data = (event: ServerSentEvent) => JSON.parse(event.data) as Record<string, unknown>;
const logsOf = (events: ServerSentEvent[]) =>
  events.filter((e) => e.event === 'log').map((e) => data(e) as unknown as LogView);

describe.each(DIALECTS)('run event stream on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let app: FastifyInstance;
  let key: string;
  let fx: EngineFixture;
  let base: string;
  let closed: boolean;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    const admin = (await bootstrapAdmin(store, testDb.dir, 'http://x'))!;
    key = admin.key;
    const engine = new Engine(store);
    app = await buildApp({ store, engine });
    await app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    closed = false;
    // No worker: the test moves the run on itself, so it knows what the stream must say next.
    fx = {
      testDb,
      store,
      engine,
      registry: new Registry(store),
      caller: { userId: admin.user.id, role: admin.user.role },
      close: async () => {},
    };
    const pair = {
      name: 'pair',
      version: '1.0.0',
      steps: [
        { id: 'a', agent: 'builtin/transform', input: { x: 1 } },
        { id: 'b', agent: 'builtin/transform', needs: ['a'], input: { y: '{{ steps.a.output }}' } },
      ],
    };
    expect((await api('POST', '/api/v1/workflows', pair)).status).toBe(201);
  });
  afterEach(async () => {
    if (!closed) await app.close();
    await store.close();
    await testDb.drop();
  });

  function api(method: 'GET' | 'POST', url: string, body?: unknown, asKey = key) {
    return fetch(`${base}${url}`, {
      method,
      headers: {
        authorization: `Bearer ${asKey}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  }

  async function start(): Promise<string> {
    const res = await api('POST', '/api/v1/workflows/pair/runs', {});
    expect(res.status).toBe(202);
    return ((await res.json()) as { id: string }).id;
  }

  async function allLogs(id: string): Promise<LogView[]> {
    return ((await (await api('GET', `/api/v1/runs/${id}/logs?limit=999`)).json()) as { items: LogView[] })
      .items;
  }

  it('sends the run, then its log lines as they are written and its changes, then its end, and closes', async () => {
    const id = await start();
    const stream = await openStream(`${base}/api/v1/runs/${id}/events`, key);
    expect(stream.response.status).toBe(200);
    expect(stream.response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(stream.response.headers.get('cache-control')).toBe('no-cache');
    expect(stream.response.headers.get('x-accel-buffering')).toBe('no');
    const first = (await stream.next())!;
    expect(first.event).toBe('run');
    // The same JSON as GET /api/v1/runs/{id}.
    expect(data(first)).toEqual(await (await api('GET', `/api/v1/runs/${id}`)).json());
    expect(data(first)).toMatchObject({ id, status: 'running', steps: { a: { status: 'running' } } });
    // The lines already written come first, then the stream waits for more.
    const early = [(await stream.next())!, (await stream.next())!];
    expect(early.map((e) => [e.event, data(e).message])).toEqual([
      ['log', expect.stringMatching(/^run started/)],
      ['log', 'step a running'],
    ]);
    expect(openEventStreams(app)).toBe(1);

    await drain(fx);
    const rest = await stream.rest();
    const end = rest.at(-1)!;
    expect(end.event).toBe('end');
    expect(data(end)).toEqual(await (await api('GET', `/api/v1/runs/${id}`)).json());
    expect(data(end)).toMatchObject({ status: 'completed', result: { b: { y: { x: 1 } } } });
    // Each line once, in order, each with its id as the event id.
    const events = [...early, ...rest];
    expect(logsOf(events)).toEqual(await allLogs(id));
    for (const event of events.filter((e) => e.event === 'log')) expect(event.id).toBe(data(event).id);
    // A `run` event for the changes it saw; the last one before `end` shows the run completed.
    expect(rest.filter((e) => e.event === 'run').length).toBeGreaterThan(0);
    expect(data(rest.filter((e) => e.event === 'run').at(-1)!)).toMatchObject({ status: 'completed' });
    await vi.waitFor(() => expect(openEventStreams(app)).toBe(0));
  });

  it('resumes after Last-Event-ID, or ?after=, without repeating a line', async () => {
    const id = await start();
    await drain(fx);
    const lines = await allLogs(id);
    expect(lines.length).toBeGreaterThanOrEqual(6);
    const url = `${base}/api/v1/runs/${id}/events`;

    const whole = await (await openStream(url, key)).rest();
    expect(whole.map((e) => e.event)).toEqual(['run', ...lines.map(() => 'log'), 'end']);
    expect(logsOf(whole)).toEqual(lines);

    const resumed = await (await openStream(url, key, { 'last-event-id': lines[2]!.id })).rest();
    expect(resumed.map((e) => e.event)).toEqual(['run', ...lines.slice(3).map(() => 'log'), 'end']);
    expect(logsOf(resumed)).toEqual(lines.slice(3));

    const after = await (await openStream(`${url}?after=${lines[4]!.id}`, key)).rest();
    expect(logsOf(after)).toEqual(lines.slice(5));
    // A reconnecting EventSource keeps its URL and sends the header: the header wins.
    const both = await (
      await openStream(`${url}?after=${lines[0]!.id}`, key, { 'last-event-id': lines[3]!.id })
    ).rest();
    expect(logsOf(both)).toEqual(lines.slice(4));
    const caughtUp = await (await openStream(url, key, { 'last-event-id': lines.at(-1)!.id })).rest();
    expect(caughtUp.map((e) => e.event)).toEqual(['run', 'end']);
  });

  it('stops polling when the client goes away, and ends open streams when the server closes', async () => {
    const id = await start();
    const gone = await openStream(`${base}/api/v1/runs/${id}/events`, key);
    expect((await gone.next())!.event).toBe('run');
    expect(openEventStreams(app)).toBe(1);
    gone.abort();
    await vi.waitFor(() => expect(openEventStreams(app)).toBe(0));

    const open = await openStream(`${base}/api/v1/runs/${id}/events`, key);
    expect((await open.next())!.event).toBe('run');
    expect(openEventStreams(app)).toBe(1);
    // close() does not wait for the run to end: the stream is ended, the connection closes.
    await app.close();
    closed = true;
    expect(openEventStreams(app)).toBe(0);
    const left = await open.rest();
    expect(left.filter((e) => e.event === 'end')).toEqual([]);
  });

  it("refuses another owner's run, an unknown run and a bad cursor before streaming", async () => {
    const id = await start();
    const other = await memberWithKey(store, { name: 'O', email: 'o@example.com' }, 'o');
    const foreign = await api('GET', `/api/v1/runs/${id}/events`, undefined, other.key);
    expect(foreign.status).toBe(404);
    expect(foreign.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await foreign.json()).toMatchObject({ code: 'NOT_FOUND' });
    expect((await api('GET', '/api/v1/runs/nope/events')).status).toBe(404);

    const badAfter = await api('GET', `/api/v1/runs/${id}/events?after=yesterday`);
    expect(badAfter.status).toBe(400);
    expect(((await badAfter.json()) as { errors: unknown[] }).errors).toEqual([
      expect.objectContaining({ field: 'querystring.after' }),
    ]);
    const badHeader = await fetch(`${base}/api/v1/runs/${id}/events`, {
      headers: { authorization: `Bearer ${key}`, 'last-event-id': 'x' },
    });
    expect(badHeader.status).toBe(400);
    expect(((await badHeader.json()) as { errors: unknown[] }).errors).toEqual([
      expect.objectContaining({ field: 'headers.last-event-id' }),
    ]);
    expect(openEventStreams(app)).toBe(0);
  });

  it('documents both routes in the OpenAPI document', async () => {
    const doc = (await (await fetch(`${base}/api/v1/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { tags: string[]; responses: Record<string, unknown> }>>;
    };
    expect(doc.paths['/api/v1/runs/{id}/logs']!.get!.tags).toEqual(['runs']);
    const events = doc.paths['/api/v1/runs/{id}/events']!.get!;
    expect(events.tags).toEqual(['runs']);
    expect(JSON.stringify(events.responses['200'])).toContain('text/event-stream');
  });

  it('sends a `: ping` comment while nothing happens', async () => {
    const id = await start();
    // The same routes on a bare app, with a short heartbeat and no polling to speak of.
    const bare = Fastify();
    bare.decorateRequest('caller', null);
    bare.addHook('onRequest', async (request) => {
      request.caller = fx.caller;
    });
    bare.addSchema(problemSchema);
    bare.addSchema(runSchema);
    runRoutes(bare, fx.registry, fx.engine, () => {}, store, { heartbeatMs: 20, pollMs: 60_000 });
    await bare.listen({ port: 0, host: '127.0.0.1' });
    try {
      const port = (bare.server.address() as { port: number }).port;
      const stream = await openStream(`http://127.0.0.1:${port}/api/v1/runs/${id}/events`, key);
      expect((await stream.next())!.event).toBe('run');
      await vi.waitFor(async () => {
        const read = stream.next();
        await Promise.race([read, new Promise((resolve) => setTimeout(resolve, 50))]);
        expect(stream.raw()).toMatch(/^: ping$/m);
      });
    } finally {
      await bare.close();
    }
  });
});

describe.each(DIALECTS)('run event stream of a real server on %s', (dialect) => {
  let testDb: TestDatabase;
  let server: RunningServer;
  let key: string;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    const home = path.join(testDb.dir, 'home');
    server = await startServer(
      loadConfig({ DATABASE_URL: testDb.url, SWARM_HOME: home, SWARM_PORT: '0', SWARM_LOG_LEVEL: 'silent' }),
    );
    key = server.bootstrapped!.key;
  });
  afterEach(async () => {
    await server.close();
    await testDb.drop();
  });

  it('follows the hello example, run by the in-process worker, from start to end', async () => {
    const res = await fetch(`${server.url}/api/v1/workflows/hello/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ input: { name: 'Grace Hopper' } }),
    });
    const { id } = (await res.json()) as { id: string };
    const events = await (await openStream(`${server.url}/api/v1/runs/${id}/events`, key)).rest();
    expect(events[0]!.event).toBe('run');
    expect(events.at(-1)!.event).toBe('end');
    expect(data(events.at(-1)!)).toMatchObject({
      status: 'completed',
      result: { answer: { message: 'Hello, Grace Hopper!', long_name: true } },
    });
    const messages = logsOf(events).map((l) => l.message);
    expect(messages[0]).toMatch(/^run started: hello@/);
    expect(messages).toEqual(expect.arrayContaining(['step greet completed', 'step answer completed']));
    expect(messages.at(-1)).toBe('run completed');
    expect(new Set(messages).size).toBe(messages.length);
  });
});
