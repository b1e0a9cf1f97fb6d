import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MAX_REDIRECTS, type HttpPolicy } from '../../src/runtimes/index.js';
import {
  expectRuntimeError,
  expectValidOutput,
  invocation,
  LOOSE_POLICY,
  makeContext,
  runtime,
  STRICT_POLICY,
} from './helpers.js';

// Only loopback traffic: one server on 127.0.0.1; every other address must be refused unsent.
let server: http.Server;
let base: string;
let port: number;
let hits: Record<string, number> = {};

async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function json(res: http.ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(value));
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://x');
      hits[url.pathname] = (hits[url.pathname] ?? 0) + 1;
      const body = await readBody(req);
      switch (url.pathname) {
        case '/json':
          return json(res, 200, { hello: 'world', n: [1, 2] });
        case '/echo':
          return json(res, 200, { method: req.method, headers: req.headers, body });
        case '/text':
          return res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('plain text ✓');
        case '/fail':
          return json(res, 500, { error: 'boom' });
        case '/big':
          return res
            .writeHead(200, { 'content-type': 'text/plain' })
            .end('x'.repeat(Number(url.searchParams.get('n'))));
        case '/big-chunked': {
          res.writeHead(200, { 'content-type': 'text/plain' }); // no content-length: chunked
          for (let i = 0; i < 20; i++) res.write('y'.repeat(1024));
          return res.end();
        }
        case '/gzip':
          return res
            .writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' })
            .end(gzipSync(JSON.stringify({ zipped: true })));
        case '/hang':
          return; // never answers
        case '/redirect':
          return res
            .writeHead(Number(url.searchParams.get('status') ?? 302), {
              location: url.searchParams.get('to')!,
            })
            .end();
        case '/loop':
          return res.writeHead(302, { location: '/loop' }).end();
        case '/secret':
          return json(res, 200, { secret: true });
        default:
          return json(res, 404, { error: 'not found' });
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  hits = {};
});

const request = (input: Record<string, unknown>, policy: HttpPolicy = LOOSE_POLICY, signal?: AbortSignal) => {
  const context = makeContext({ signal });
  return { context, result: runtime(policy).execute(invocation('http_request', input), context) };
};
const send = (input: Record<string, unknown>, policy: HttpPolicy = LOOSE_POLICY, signal?: AbortSignal) =>
  request(input, policy, signal).result;

interface Output {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

describe('builtin/http_request against a local server', () => {
  it('GETs JSON and parses it', async () => {
    const output = expectValidOutput<Output>('http_request', await send({ url: `${base}/json` }));
    expect(output.status).toBe(200);
    expect(output.headers['content-type']).toMatch(/^application\/json/);
    expect(output.body).toEqual({ hello: 'world', n: [1, 2] });
  });

  it('POSTs an object as JSON, with the headers given', async () => {
    const output = expectValidOutput<Output>(
      'http_request',
      await send({
        url: `${base}/echo`,
        method: 'POST',
        headers: { 'X-Trace': 'abc' },
        body: { a: 1, b: ['x'] },
      }),
    );
    const echoed = output.body as { method: string; headers: Record<string, string>; body: string };
    expect(echoed.method).toBe('POST');
    expect(echoed.headers['content-type']).toBe('application/json');
    expect(echoed.headers['x-trace']).toBe('abc');
    expect(JSON.parse(echoed.body)).toEqual({ a: 1, b: ['x'] });
  });

  it("sends the step's Idempotency-Key unless the step opts out or sets its own", async () => {
    const keyOf = async (input: Record<string, unknown>) =>
      ((await send({ url: `${base}/echo`, method: 'POST', body: {}, ...input })) as Output).body as {
        headers: Record<string, string>;
      };
    expect((await keyOf({})).headers['idempotency-key']).toBe('swarm-test-key');
    expect((await keyOf({ idempotency_key: false })).headers['idempotency-key']).toBeUndefined();
    expect((await keyOf({ headers: { 'Idempotency-Key': 'mine' } })).headers['idempotency-key']).toBe('mine');
  });

  it('sends a string body as text unless told otherwise', async () => {
    const output = (await send({ url: `${base}/echo`, method: 'PUT', body: 'hello' })) as Output;
    expect(output.body).toMatchObject({
      method: 'PUT',
      body: 'hello',
      headers: { 'content-type': 'text/plain; charset=utf-8' },
    });
    const typed = (await send({
      url: `${base}/echo`,
      method: 'PATCH',
      headers: { 'Content-Type': 'application/xml' },
      body: '<a/>',
    })) as Output;
    expect(typed.body).toMatchObject({ body: '<a/>', headers: { 'content-type': 'application/xml' } });
  });

  it('returns a text body as text', async () => {
    const output = expectValidOutput<Output>('http_request', await send({ url: `${base}/text` }));
    expect(output.body).toBe('plain text ✓');
  });

  it('passes a 500 through as output, not as an error', async () => {
    const output = expectValidOutput<Output>('http_request', await send({ url: `${base}/fail` }));
    expect(output).toMatchObject({ status: 500, body: { error: 'boom' } });
  });

  it('answers HEAD without a body', async () => {
    const output = expectValidOutput<Output>(
      'http_request',
      await send({ url: `${base}/json`, method: 'HEAD' }),
    );
    expect(output).toMatchObject({ status: 200, body: '' });
  });

  it('decodes a gzip body', async () => {
    expect(((await send({ url: `${base}/gzip` })) as Output).body).toEqual({ zipped: true });
  });

  it('refuses a body larger than the policy allows, declared or streamed', async () => {
    const small = { ...LOOSE_POLICY, maxResponseBytes: 1024 };
    await expectRuntimeError(
      send({ url: `${base}/big?n=4096` }, small),
      'FORBIDDEN',
      false,
      /maxResponseBytes 1024/,
    );
    await expectRuntimeError(
      send({ url: `${base}/big-chunked` }, small),
      'FORBIDDEN',
      false,
      /maxResponseBytes/,
    );
    expect(((await send({ url: `${base}/big?n=1024` }, small)) as Output).body).toHaveLength(1024);
  });

  it('times out by the policy, as a retryable failure', async () => {
    await expectRuntimeError(
      send({ url: `${base}/hang` }, { ...LOOSE_POLICY, timeoutMs: 150 }),
      'SERVER_UNREACHABLE',
      true,
      /timed out after 150 ms/,
    );
  });

  it('stops when the worker aborts, rejecting with the abort reason', async () => {
    const controller = new AbortController();
    const reason = new Error('task cancelled');
    const pending = send({ url: `${base}/hang` }, LOOSE_POLICY, controller.signal);
    setTimeout(() => controller.abort(reason), 50);
    await expect(pending).rejects.toBe(reason);
  });

  it('reports a refused connection as retryable', async () => {
    const spare = http.createServer();
    await new Promise<void>((resolve) => spare.listen(0, '127.0.0.1', resolve));
    const closedPort = (spare.address() as AddressInfo).port;
    await new Promise((resolve) => spare.close(resolve));
    await expectRuntimeError(
      send({ url: `http://127.0.0.1:${closedPort}/` }),
      'SERVER_UNREACHABLE',
      true,
      /ECONNREFUSED/,
    );
  });

  it('logs the request without its query string', async () => {
    const { context, result } = request({ url: `${base}/json?token=s3cret` });
    await result;
    expect(context.logs.map((l) => l.message).join('\n')).toContain(`GET ${base}/json → 200`);
    expect(JSON.stringify(context.logs)).not.toContain('s3cret');
  });

  it.each([
    [{ url: 'file:///etc/passwd' }, /input\.url/],
    [{ url: 'ftp://127.0.0.1/' }, /input\.url/],
    [{ url: 'http://127.0.0.1/', method: 'GET', body: { a: 1 } }, /input\.body/],
    [{ url: 'http://127.0.0.1/', method: 'TRACE' }, /input\.method/],
    [{ url: 'http://127.0.0.1/', headers: { 'X-Bad': 'a\r\nInjected: 1' } }, /input\.headers/],
    [{ url: 'http://127.0.0.1/', extra: 1 }, /input\.extra: unknown property/],
  ])('refuses the bad input %j, not retryable', async (input, field) => {
    await expectRuntimeError(send(input), 'INPUT_INVALID', false, field);
  });
});

describe('builtin/http_request redirects', () => {
  it('follows them, turning a POST into a GET on 302 and keeping it on 307', async () => {
    const to = encodeURIComponent('/echo');
    const after302 = (await send({
      url: `${base}/redirect?status=302&to=${to}`,
      method: 'POST',
      body: { a: 1 },
    })) as Output;
    expect(after302.body).toMatchObject({ method: 'GET', body: '' });
    const after307 = (await send({
      url: `${base}/redirect?status=307&to=${to}`,
      method: 'POST',
      body: { a: 1 },
    })) as Output;
    expect(after307.body).toMatchObject({ method: 'POST', body: '{"a":1}' });
  });

  it('does not carry credentials to another origin', async () => {
    const to = encodeURIComponent(`http://localhost:${port}/echo`);
    const output = (await send({
      url: `${base}/redirect?to=${to}`,
      headers: { Authorization: 'Bearer secret', 'X-Keep': 'yes' },
    })) as Output;
    const headers = (output.body as { headers: Record<string, string> }).headers;
    expect(headers.authorization).toBeUndefined();
    expect(headers['x-keep']).toBe('yes');
  });

  it(`stops after ${MAX_REDIRECTS} redirects`, async () => {
    await expectRuntimeError(send({ url: `${base}/loop` }), 'SERVER_UNREACHABLE', false, /redirects/);
    expect(hits['/loop']).toBe(MAX_REDIRECTS + 1);
  });
});

describe('builtin/http_request SSRF guard (allowPrivateNetworks false)', () => {
  it.each([
    ['127.0.0.1', () => `${base}/secret`],
    ['localhost', () => `http://localhost:${port}/secret`],
    ['[::1]', () => `http://[::1]:${port}/secret`],
    ['a decimal 127.0.0.1', () => `http://2130706433:${port}/secret`],
    ['an IPv4-mapped loopback', () => `http://[::ffff:127.0.0.1]:${port}/secret`],
    ['the cloud metadata address', () => 'http://169.254.169.254/latest/meta-data/'],
    ['a private address', () => 'http://10.0.0.1/'],
    ['the unspecified address', () => `http://0.0.0.0:${port}/secret`],
  ])('refuses %s before sending anything', async (_what, url) => {
    await expectRuntimeError(send({ url: url() }, STRICT_POLICY), 'FORBIDDEN', false, /refused to contact/);
    expect(hits['/secret']).toBeUndefined();
  });

  it('lets a host listed in allowedHosts through', async () => {
    const output = await send({ url: `${base}/json` }, { ...STRICT_POLICY, allowedHosts: ['127.0.0.1'] });
    expect((output as Output).status).toBe(200);
  });

  // 127.0.0.1 is allowed by name; the redirect leads to loopback under other names, which are
  // not: only a check repeated on every hop catches it.
  it.each([
    ['localhost', () => `http://localhost:${port}/secret`],
    ['[::1]', () => `http://[::1]:${port}/secret`],
    ['the metadata address', () => 'http://169.254.169.254/latest/meta-data/'],
  ])('re-checks every redirect hop: an allowed host redirecting to %s is refused', async (_what, target) => {
    const policy = { ...STRICT_POLICY, allowedHosts: ['127.0.0.1'] };
    await expectRuntimeError(
      send({ url: `${base}/redirect?to=${encodeURIComponent(target())}` }, policy),
      'FORBIDDEN',
      false,
      /refused to contact/,
    );
    expect(hits['/redirect']).toBe(1);
    expect(hits['/secret']).toBeUndefined();
  });

  it('refuses a redirect to a file: URL', async () => {
    await expectRuntimeError(
      send({ url: `${base}/redirect?to=${encodeURIComponent('file:///etc/passwd')}` }),
      'FORBIDDEN',
      false,
      /only http and https/,
    );
  });
});
