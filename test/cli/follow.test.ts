import http from 'node:http';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiClient, SseParser } from '../../src/cli/client.js';
import type { LogView, RunView } from '../../src/engine/index.js';

describe('SseParser', () => {
  it('splits events on blank lines, whatever the line ends and however the chunks fall', () => {
    const text =
      ': hello\r\nretry: 10\n\nevent: run\r\ndata: {"a":\r\ndata: 1}\r\n\r\nid: 7\nevent: log\ndata:  two spaces\n\n' +
      'data\n\nevent: nothing\n\ndata: last\r\r';
    const expected = [
      { event: 'run', data: '{"a":\n1}', id: undefined },
      { event: 'log', data: ' two spaces', id: '7' },
      { event: 'message', data: '', id: '7' },
      { event: 'message', data: 'last', id: '7' },
    ];
    // Whole, then one character at a time (a CRLF split between chunks is one line end).
    expect(new SseParser().push(text)).toEqual(expected);
    const parser = new SseParser();
    expect([...text].flatMap((c) => parser.push(c))).toEqual(expected);
    // Every split into two chunks gives the same events.
    for (let i = 1; i < text.length; i++) {
      const two = new SseParser();
      expect([...two.push(text.slice(0, i)), ...two.push(text.slice(i))], `split at ${i}`).toEqual(expected);
    }
  });

  it('keeps an unfinished event until its blank line arrives', () => {
    const parser = new SseParser();
    expect(parser.push('event: end\ndata: {}\n')).toEqual([]);
    expect(parser.push('\n')).toEqual([{ event: 'end', data: '{}', id: undefined }]);
  });
});

/** A scripted server: each request goes to the handler, which sees how many came before. */
async function fakeServer(
  handler: (req: http.IncomingMessage, res: http.ServerResponse, count: number) => void,
): Promise<{ url: string; requests: http.IncomingMessage[]; close(): Promise<void> }> {
  const requests: http.IncomingMessage[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req);
    handler(req, res, requests.filter((r) => r.url?.split('?')[0] === req.url?.split('?')[0]).length);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    requests,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

const run = (status: string): RunView =>
  ({
    id: 'r1',
    workflow: 'w',
    version: '1',
    status,
    attempt: 1,
    steps: {},
    handlers: [],
  }) as unknown as RunView;
const line = (id: string): LogView => ({
  id,
  time: '2026-01-01T00:00:00.000Z',
  level: 'info',
  eventType: 'state_change',
  stepId: null,
  taskId: null,
  message: `line ${id}`,
  metadata: {},
});
const sse = (event: string, body: unknown, id?: string) =>
  `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(body)}\n\n`;
const streamHead = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' };

describe('ApiClient.followRun', () => {
  let server: Awaited<ReturnType<typeof fakeServer>> | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('reconnects with Last-Event-ID after a drop, and gives no line twice', async () => {
    server = await fakeServer((req, res, count) => {
      res.writeHead(200, streamHead);
      if (count === 1) {
        res.write(sse('run', run('running')) + sse('log', line('1'), '1') + sse('log', line('2'), '2'));
        // The connection breaks mid-run.
        setTimeout(() => res.socket?.destroy(), 50);
      } else {
        res.end(sse('run', run('running')) + sse('log', line('3'), '3') + sse('end', run('completed')));
      }
    });
    const logs: string[] = [];
    const runs: string[] = [];
    const final = await new ApiClient(server.url, 'k').followRun('r1', {
      log: (l) => logs.push(l.id),
      run: (r) => runs.push(r.status),
    });
    expect(final.status).toBe('completed');
    expect(logs).toEqual(['1', '2', '3']);
    expect(runs).toEqual(['running', 'running', 'completed']);
    expect(server.requests.map((r) => [r.url, r.headers['last-event-id']])).toEqual([
      ['/api/v1/runs/r1/events', undefined],
      ['/api/v1/runs/r1/events', '2'],
    ]);
    expect(server.requests[0]!.headers.authorization).toBe('Bearer k');
  });

  it('falls back to polling the run and its logs when the server has no event stream', async () => {
    server = await fakeServer((req, res, count) => {
      const url = new URL(req.url!, 'http://x');
      const json = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (url.pathname.endsWith('/events')) {
        json(404, { code: 'NOT_FOUND', detail: 'no route GET /api/v1/runs/r1/events' });
      } else if (url.pathname.endsWith('/logs')) {
        const after = url.searchParams.get('after');
        const all = ['1', '2', '3'].slice(0, Math.min(3, count + 1)).map(line);
        json(200, { items: all.filter((l) => after === null || l.id > after) });
      } else {
        json(200, run(count < 3 ? 'running' : 'failed'));
      }
    });
    const logs: string[] = [];
    const final = await new ApiClient(server.url, 'k').followRun(
      'r1',
      { log: (l) => logs.push(l.id) },
      { pollMs: 5 },
    );
    expect(final.status).toBe('failed');
    expect(logs).toEqual(['1', '2', '3']);
    // Refused once, not retried: a 404 will not change by asking again.
    expect(server.requests.filter((r) => r.url!.endsWith('/events'))).toHaveLength(1);
  });

  it('treats a silent stream as dropped, and polls once reconnecting keeps failing', async () => {
    server = await fakeServer((req, res, count) => {
      if (req.url!.endsWith('/events')) {
        res.writeHead(200, streamHead);
        res.write(sse('run', run('running')));
        // Then nothing at all: no events, no pings.
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(count === 1 ? run('running') : run('cancelled')));
    });
    const final = await new ApiClient(server.url, 'k').followRun(
      'r1',
      {},
      { idleMs: 100, reconnects: 1, pollMs: 5 },
    );
    expect(final.status).toBe('cancelled');
    expect(server.requests.filter((r) => r.url!.endsWith('/events'))).toHaveLength(2);
  });

  it('reports a run that is not there as NOT_FOUND', async () => {
    server = await fakeServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/problem+json' });
      res.end(JSON.stringify({ code: 'NOT_FOUND', detail: 'run not found: r1' }));
    });
    await expect(new ApiClient(server.url, 'k').followRun('r1')).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: 'run not found: r1',
    });
  });
});
