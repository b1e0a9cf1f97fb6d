import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { consoleLogger, PrettyLines, resolveLogFormat } from '../../src/server/console-log.js';

/** A stream that keeps what is written, posing as a terminal or not. */
function sink(isTTY: boolean): Writable & { isTTY: boolean; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return Object.assign(stream, { isTTY, text: () => chunks.join('') });
}

const json = (line: Record<string, unknown>) =>
  JSON.stringify({ level: 30, time: Date.parse('2026-01-01T10:11:12Z'), pid: 1, hostname: 'h', ...line });

describe('the console log', () => {
  it('is pretty on a terminal and JSON elsewhere, unless SWARM_LOG_FORMAT says which', () => {
    expect(resolveLogFormat('auto', { isTTY: true })).toBe('pretty');
    expect(resolveLogFormat('auto', { isTTY: false })).toBe('json');
    expect(resolveLogFormat('json', { isTTY: true })).toBe('json');
    expect(resolveLogFormat('pretty', {})).toBe('pretty');

    const pipe = sink(false);
    consoleLogger({ level: 'info', format: 'auto' }, pipe).info({ task: 't1' }, 'hello');
    expect(JSON.parse(pipe.text())).toMatchObject({ level: 30, msg: 'hello', task: 't1' });

    const terminal = sink(true);
    consoleLogger({ level: 'info', format: 'auto' }, terminal).warn({ task: 't1' }, 'hello');
    expect(terminal.text()).toMatch(/^\d\d:\d\d:\d\d \S*WARN\S* +hello task=t1\n$/);
  });

  it('makes a request one line, and hides successful health checks', () => {
    const pretty = new PrettyLines();
    expect(
      pretty.format(
        json({ reqId: 'r1', req: { method: 'GET', url: '/api/v1/runs' }, msg: 'incoming request' }),
      ),
    ).toBeNull();
    expect(
      pretty.format(
        json({ reqId: 'r1', res: { statusCode: 200 }, responseTime: 4.2, msg: 'request completed' }),
      ),
    ).toMatch(/^\d\d:\d\d:\d\d INFO {2}GET \/api\/v1\/runs 200 4 ms$/);

    expect(
      pretty.format(json({ reqId: 'r2', req: { method: 'GET', url: '/healthz' }, msg: 'incoming request' })),
    ).toBeNull();
    expect(
      pretty.format(
        json({ reqId: 'r2', res: { statusCode: 200 }, responseTime: 1, msg: 'request completed' }),
      ),
    ).toBeNull();
    // An unhealthy answer is worth a line.
    pretty.format(json({ reqId: 'r3', req: { method: 'GET', url: '/healthz' }, msg: 'incoming request' }));
    expect(
      pretty.format(
        json({ reqId: 'r3', res: { statusCode: 503 }, responseTime: 1, msg: 'request completed' }),
      ),
    ).toMatch(/GET \/healthz 503 1 ms$/);
    // The CLI prints where the server listens; Fastify's own line would say it twice.
    expect(pretty.format(json({ msg: 'Server listening at http://127.0.0.1:7373' }))).toBeNull();
  });

  it('shows an error’s message, and its stack only at error level', () => {
    const pretty = new PrettyLines();
    const err = { type: 'Error', message: 'boom', stack: 'Error: boom\n    at x' };
    expect(pretty.format(json({ level: 40, err, msg: 'renewing failed' }))).toBe(
      `${new Date(Date.parse('2026-01-01T10:11:12Z')).toTimeString().slice(0, 8)} WARN  renewing failed error="boom"`,
    );
    expect(pretty.format(json({ level: 50, err, msg: 'claiming failed' }))).toMatch(
      /error="boom"\nError: boom\n {4}at x$/,
    );
    expect(pretty.format('not json\n')).toBe('not json');
  });
});
