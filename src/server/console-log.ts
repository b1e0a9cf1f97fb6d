import pino, { type Logger } from 'pino';

/** How the server and workers write their log: JSON lines, or short lines for a person. */
export type LogFormat = 'json' | 'pretty';

/** `auto` is pretty on a terminal and JSON elsewhere (files, pipes, log collectors). */
export function resolveLogFormat(
  setting: 'auto' | LogFormat,
  stream: { isTTY?: boolean } = process.stdout,
): LogFormat {
  if (setting !== 'auto') return setting;
  return stream.isTTY === true ? 'pretty' : 'json';
}

/** The process's logger: pino's JSON lines, or through `PrettyLines` on a terminal. */
export function consoleLogger(
  options: { level: string; format: 'auto' | LogFormat },
  out: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout,
): Logger {
  if (resolveLogFormat(options.format, out) === 'json') return pino({ level: options.level }, out);
  const color = out.isTTY === true && process.env.NO_COLOR === undefined;
  const pretty = new PrettyLines(color);
  return pino(
    { level: options.level },
    {
      write(line: string) {
        const text = pretty.format(line);
        if (text !== null) out.write(`${text}\n`);
      },
    },
  );
}

const LEVELS: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
const COLORS: Record<number, string> = { 10: '2', 20: '2', 30: '36', 40: '33', 50: '31', 60: '31' };
/** Paths polled by monitors and load balancers: a line for each would drown the rest. */
const QUIET_PATHS = /^\/(healthz|readyz|livez)(\?|$)/;
/** pino's own fields, and Fastify's request fields, shown in their own way or not at all. */
const SHOWN = new Set([
  'level',
  'time',
  'pid',
  'hostname',
  'msg',
  'reqId',
  'req',
  'res',
  'responseTime',
  'err',
]);

interface Line {
  level?: number;
  time?: number;
  msg?: string;
  reqId?: string;
  req?: { method?: string; url?: string };
  res?: { statusCode?: number };
  responseTime?: number;
  err?: { message?: string; stack?: string; type?: string };
  [field: string]: unknown;
}

/**
 * Turns pino's JSON lines into `12:03:04 INFO  message key=value`. A request is one line when it
 * completes (`GET /api/v1/runs 200 4 ms`), from what its `incoming request` line said; requests
 * to health-check paths that succeed are not shown; Fastify's "Server listening" is left to the
 * CLI's own line.
 */
export class PrettyLines {
  /** Method and URL of requests in flight, by request id (bounded: a line may never complete). */
  private readonly requests = new Map<string, { method: string; url: string }>();

  constructor(private readonly color = false) {}

  format(json: string): string | null {
    let line: Line;
    try {
      line = JSON.parse(json) as Line;
    } catch {
      return json.trimEnd();
    }
    const level = line.level ?? 30;
    if (line.msg === 'incoming request' && line.reqId !== undefined) {
      if (this.requests.size >= 10_000) this.requests.clear();
      this.requests.set(line.reqId, { method: line.req?.method ?? '?', url: line.req?.url ?? '?' });
      return null;
    }
    let message = line.msg ?? '';
    if (message === 'request completed' && line.reqId !== undefined) {
      const request = this.requests.get(line.reqId);
      this.requests.delete(line.reqId);
      const status = line.res?.statusCode ?? 0;
      if (request !== undefined && QUIET_PATHS.test(request.url) && status < 400) return null;
      const took = line.responseTime === undefined ? '' : ` ${Math.round(line.responseTime)} ms`;
      message = `${request?.method ?? '?'} ${request?.url ?? '?'} ${status}${took}`;
    } else if (/^Server listening at /.test(message)) {
      return null;
    }
    const fields = Object.entries(line)
      .filter(([key, value]) => !SHOWN.has(key) && value !== undefined)
      .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
    if (line.err?.message !== undefined && !message.includes(line.err.message))
      fields.unshift(`error=${JSON.stringify(line.err.message)}`);
    const time = new Date(line.time ?? Date.now()).toTimeString().slice(0, 8);
    const name = LEVELS[level] ?? String(level);
    const pad = ' '.repeat(Math.max(0, 5 - name.length));
    const head = this.color ? `\u001b[${COLORS[level] ?? '0'}m${name}\u001b[0m${pad}` : `${name}${pad}`;
    let text = `${time} ${head} ${message}${fields.length > 0 ? ` ${fields.join(' ')}` : ''}`;
    // A stack is for the errors that are Swarm's to fix, not for every warning.
    if (level >= 50 && line.err?.stack !== undefined) text += `\n${line.err.stack}`;
    return text;
  }
}
