import net from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapAdmin } from '../../src/auth/index.js';
import { buildApp } from '../../src/server/index.js';
import { Store } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

const MiB = 1024 * 1024;
/** Well past what loopback socket buffers absorb, so the client is still writing when answered. */
const BODY = 12 * MiB;
const CHUNK = 64 * 1024;

interface Answer {
  /** Why a write failed (EPIPE, ECONNRESET), or null when the whole request went out. */
  readonly writeError: string | null;
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** A body of `size` bytes as written: raw, or in chunked transfer coding ending with its last chunk. */
function bodyChunks(size: number, chunked: boolean): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < size; at += CHUNK) {
    const data = Buffer.alloc(Math.min(CHUNK, size - at), 'a');
    chunks.push(
      chunked
        ? Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from('\r\n')])
        : data,
    );
  }
  if (chunked) chunks.push(Buffer.from('0\r\n\r\n'));
  return chunks;
}

/** The answer in `data`, once its head and Content-Length body are all there. */
function parseAnswer(data: Buffer, writeError: string | null): Answer | null {
  const text = data.toString('latin1');
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd < 0) return null;
  const [statusLine = '', ...lines] = text.slice(0, headEnd).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const body = text.slice(headEnd + 4);
  if (body.length < Number(headers['content-length'])) return null;
  return { writeError, status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(statusLine)?.[1]), headers, body };
}

/**
 * A client that writes its whole request, queued all at once, before it reads anything (as
 * Python's http.client and many others do): it sees the answer only if the server let it finish
 * writing instead of resetting the connection under it.
 */
function writeThenRead(port: number, head: string, body: Buffer[]): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.pause();
    const received: Buffer[] = [];
    let writeError: string | null = null;
    const timer = setTimeout(() => socket.destroy(new Error('no complete answer within 10 s')), 10_000);
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      const answer = parseAnswer(Buffer.concat(received), writeError);
      if (answer === null) return;
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => (writeError ??= error.code ?? error.message));
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(received).toString('latin1').slice(0, 200);
      reject(new Error(`no complete answer (${writeError ?? 'closed'}): ${JSON.stringify(text)}`));
    });
    socket.on('connect', () => {
      socket.write(head);
      const last = body.length - 1;
      body.forEach((chunk, i) => socket.write(chunk, i === last ? () => socket.resume() : undefined));
    });
  });
}

function requestHead(lines: string[]): string {
  return [
    'POST /api/v1/agents HTTP/1.1',
    'host: 127.0.0.1',
    'content-type: application/json',
    ...lines,
    '',
    '',
  ].join('\r\n');
}

async function expectHealthy(url: string): Promise<void> {
  const res = await fetch(`${url}/healthz`);
  expect(res.status).toBe(200);
}

describe.each(DIALECTS)('a request refused before its body was read, on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let app: FastifyInstance;
  let key: string;
  let url: string;
  let port: number;

  beforeAll(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    key = (await bootstrapAdmin(store, testDb.dir, 'http://127.0.0.1:0'))!.key;
    app = await buildApp({ store, rateLimits: false });
    url = await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    await app.close();
    await store.close();
    await testDb.drop();
  });

  it.each([
    { framing: 'content-length', chunked: false, connection: [] },
    { framing: 'content-length, connection: close', chunked: false, connection: ['connection: close'] },
    { framing: 'chunked', chunked: true, connection: [] },
  ])('a 12 MB body ($framing) gets a 413 problem+json the client reads after writing it all', async (c) => {
    const head = requestHead([
      `authorization: Bearer ${key}`,
      c.chunked ? 'transfer-encoding: chunked' : `content-length: ${BODY}`,
      ...c.connection,
    ]);
    const answer = await writeThenRead(port, head, bodyChunks(BODY, c.chunked));
    expect(answer.writeError).toBeNull();
    expect(answer.status).toBe(413);
    expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(answer.headers.connection).toBe('close');
    const problem = JSON.parse(answer.body) as { status: number; detail: string };
    expect(problem.status).toBe(413);
    expect(problem.detail).toBe('body: is larger than 1048576 bytes this route accepts (SWARM_BODY_LIMIT)');
    await expectHealthy(url);
  });

  it('a 401 answered before a 12 MB body arrived reaches the client too', async () => {
    const answer = await writeThenRead(
      port,
      requestHead([`content-length: ${BODY}`]),
      bodyChunks(BODY, false),
    );
    expect(answer.writeError).toBeNull();
    expect(answer.status).toBe(401);
    expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(answer.headers.connection).toBe('close');
    await expectHealthy(url);
  });

  it('content-length: -1 with a body behind it gets a 400 problem+json the client reads', async () => {
    const answer = await writeThenRead(
      port,
      requestHead([`authorization: Bearer ${key}`, 'content-length: -1']),
      bodyChunks(BODY, false),
    );
    expect(answer.writeError).toBeNull();
    expect(answer.status).toBe(400);
    expect(answer.headers['content-type']).toBe('application/problem+json');
    const problem = JSON.parse(answer.body) as { code: string; detail: string };
    expect(problem.code).toBe('INPUT_INVALID');
    expect(problem.detail).toMatch(/content-length/);
    await expectHealthy(url);
  });
});

/**
 * A client that reads as it writes and never stops writing (up to `max` bytes): how much it got
 * to write before the server cut the connection, and the answer it read meanwhile.
 */
function writeUntilCut(
  port: number,
  head: string,
  max: number,
): Promise<{ written: number; cut: boolean; answer: string }> {
  return new Promise((resolve) => {
    // Half-open: the server's FIN (after its answer) does not end this side, as it would by default.
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const chunk = Buffer.alloc(CHUNK, 'a');
    const received: Buffer[] = [];
    let written = 0;
    let cut = false;
    socket.on('data', (data: Buffer) => received.push(data));
    socket.on('error', () => (cut = true));
    socket.on('close', () => resolve({ written, cut, answer: Buffer.concat(received).toString('latin1') }));
    const pump = () => {
      while (written < max && !socket.destroyed) {
        written += CHUNK;
        if (!socket.write(chunk)) return void socket.once('drain', pump);
      }
      if (!socket.destroyed) socket.end();
    };
    socket.on('connect', () => {
      socket.write(head);
      pump();
    });
  });
}

/**
 * A client that sends `head` and `bytes` of body, then keeps the connection open, sending a byte
 * now and then (its last seconds of an upload, say): how long until the server cut it (a write
 * fails once the server has closed its socket), and the answer it read.
 */
function trickleAfter(port: number, head: string, bytes: number): Promise<{ ms: number; answer: string }> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const received: Buffer[] = [];
    let start = 0;
    const trickle = setInterval(() => socket.write('a'), 50);
    socket.on('data', (data: Buffer) => received.push(data));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(trickle);
      resolve({ ms: Date.now() - start, answer: Buffer.concat(received).toString('latin1') });
    });
    socket.on('connect', () => {
      start = Date.now();
      socket.write(head);
      socket.write(Buffer.alloc(bytes, 'a'));
    });
  });
}

describe('draining after an early answer is bounded', () => {
  let testDb: TestDatabase;
  let store: Store;
  let key: string;

  beforeAll(async () => {
    testDb = await createTestDatabase('sqlite');
    store = await Store.open(testDb.url);
    key = (await bootstrapAdmin(store, testDb.dir, 'http://127.0.0.1:0'))!.key;
  });
  afterAll(async () => {
    await store.close();
    await testDb.drop();
  });

  async function serve(lingering: { maxBytes: number; maxMs: number }) {
    const app = await buildApp({ store, rateLimits: false, lingering });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    return { app, url, port: (app.server.address() as net.AddressInfo).port };
  }

  it.each([
    { what: 'a 413', status: 413, length: `content-length: ${1024 * MiB}` },
    { what: 'a refused content-length', status: 400, length: 'content-length: -1' },
  ])('after $what, a client that never stops sending is cut past maxBytes', async ({ status, length }) => {
    const { app, url, port } = await serve({ maxBytes: MiB, maxMs: 60_000 });
    try {
      const { written, cut, answer } = await writeUntilCut(
        port,
        requestHead([`authorization: Bearer ${key}`, length]),
        256 * MiB,
      );
      expect(answer).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
      expect(cut).toBe(true);
      // 1 MiB drained, plus what the two kernels' socket buffers hold (loopback: up to ~36 MiB).
      expect(written).toBeLessThan(64 * MiB);
      await expectHealthy(url);
    } finally {
      await app.close();
    }
  });

  it('a client that keeps sending slowly (and never closes) is cut after maxMs', async () => {
    const { app, url, port } = await serve({ maxBytes: 64 * MiB, maxMs: 300 });
    try {
      const head = requestHead([`authorization: Bearer ${key}`, `content-length: ${100 * MiB}`]);
      const { ms, answer } = await trickleAfter(port, head, 256 * 1024);
      expect(answer).toMatch(/^HTTP\/1\.1 413 /);
      expect(ms).toBeGreaterThanOrEqual(250);
      expect(ms).toBeLessThan(5_000);
      await expectHealthy(url);
    } finally {
      await app.close();
    }
  });

  it('closing the app does not wait for connections still draining', async () => {
    const { app, port } = await serve({ maxBytes: 64 * MiB, maxMs: 60_000 });
    const head = requestHead([`authorization: Bearer ${key}`, `content-length: ${100 * MiB}`]);
    const stalled = trickleAfter(port, head, 256 * 1024);
    // The 413 has gone out once the connection is draining.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const start = Date.now();
    await app.close();
    expect(Date.now() - start).toBeLessThan(5_000);
    expect((await stalled).answer).toMatch(/^HTTP\/1\.1 413 /);
  });

  it('a request pipelined behind an oversized body does not run', async () => {
    const { app, url, port } = await serve({ maxBytes: 64 * MiB, maxMs: 60_000 });
    try {
      const manifest = JSON.stringify({
        name: 'pipelined',
        version: '1.0.0',
        capabilities: ['echo:text'],
        runtime: { type: 'builtin', name: 'transform' },
      });
      const auth = `authorization: Bearer ${key}`;
      const second = requestHead([auth, `content-length: ${Buffer.byteLength(manifest)}`]) + manifest;
      const answer = await writeThenRead(port, requestHead([auth, `content-length: ${2 * MiB}`]), [
        ...bodyChunks(2 * MiB, false),
        Buffer.from(second),
      ]);
      expect(answer.status).toBe(413);
      // Time for the second request to have run, had it been let through (it takes a few ms).
      await new Promise((resolve) => setTimeout(resolve, 500));
      const agent = await fetch(`${url}/api/v1/agents/pipelined`, {
        headers: { authorization: `Bearer ${key}` },
      });
      expect(agent.status).toBe(404);
    } finally {
      await app.close();
    }
  });
});
