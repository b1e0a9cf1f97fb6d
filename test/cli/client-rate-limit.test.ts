import http from 'node:http';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/cli/client.js';

const problem = (retryAfter: string) => ({
  status: 429,
  headers: { 'content-type': 'application/problem+json', 'retry-after': retryAfter },
  body: JSON.stringify({
    type: 'urn:swarm:problem:rate-limited',
    title: 'Too many requests',
    status: 429,
    detail: 'this API key may make 60 requests per minute; try again in 1 s',
    code: 'RATE_LIMITED',
  }),
});

describe('ApiClient and 429 RATE_LIMITED', () => {
  let server: http.Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  /** Answers the n-th request (from 1) as `answer(n)` says. */
  async function serve(
    answer: (n: number) => { status: number; headers: Record<string, string>; body: string },
  ) {
    let n = 0;
    server = http.createServer((_req, res) => {
      const a = answer(++n);
      res.writeHead(a.status, a.headers).end(a.body);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return {
      client: new ApiClient(`http://127.0.0.1:${(server.address() as { port: number }).port}`, 'k'),
      count: () => n,
    };
  }

  it('waits out Retry-After and sends the request again', async () => {
    const { client, count } = await serve((n) =>
      n === 1
        ? problem('1')
        : { status: 200, headers: { 'content-type': 'application/json' }, body: '{"ok":true}' },
    );
    const t0 = Date.now();
    expect(await client.request('POST', '/api/v1/tasks', { a: 1 })).toEqual({ ok: true });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    expect(count()).toBe(2);
  });

  it('gives up with RATE_LIMITED when Retry-After is long, or after 3 waits', async () => {
    const long = await serve(() => problem('3000'));
    await expect(long.client.request('GET', '/api/v1/me')).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    expect(long.count()).toBe(1);
    server!.closeAllConnections();
    await new Promise((resolve) => server!.close(resolve));
    const always = await serve(() => problem('1'));
    await expect(always.client.request('GET', '/api/v1/me')).rejects.toMatchObject({
      code: 'RATE_LIMITED',
      status: 429,
    });
    expect(always.count()).toBe(4);
  }, 15_000);
});
