import { loadConfig, type Config } from '../config/index.js';
import type { LogView, RunView } from '../engine/index.js';
import { ERROR_CODES, SwarmError, isSwarmError, type ErrorCode, type FieldIssue } from '../errors/index.js';
import type { CliIo } from './io.js';
import { resolveTarget } from './target.js';
import { SWARM_VERSION } from '../version/index.js';

const CLI_USER_AGENT = `swarm-cli/${SWARM_VERSION}`;

/** One server-sent event. `id` is the stream's last event id when it was dispatched. */
export interface ServerSentEvent {
  readonly event: string;
  readonly data: string;
  readonly id: string | undefined;
}

/**
 * Splits a `text/event-stream` into events as the WHATWG HTML standard says (§ server-sent
 * events): lines end in CRLF, LF or CR (a CRLF may be split between chunks), `:` starts a
 * comment, a blank line dispatches the event, an event without data is dropped.
 */
export class SseParser {
  private rest = '';
  private skipLF = false;
  private type = '';
  private data: string[] = [];
  private lastId: string | undefined;

  push(chunk: string): ServerSentEvent[] {
    const events: ServerSentEvent[] = [];
    if (chunk === '') return [];
    let text = this.rest + (this.skipLF && chunk.startsWith('\n') ? chunk.slice(1) : chunk);
    this.skipLF = false;
    for (;;) {
      const end = text.search(/[\r\n]/);
      if (end < 0) break;
      const line = text.slice(0, end);
      let next = end + 1;
      if (text[end] === '\r') {
        if (end + 1 === text.length) this.skipLF = true;
        else if (text[end + 1] === '\n') next += 1;
      }
      text = text.slice(next);
      this.line(line, events);
    }
    this.rest = text;
    return events;
  }

  private line(line: string, events: ServerSentEvent[]): void {
    if (line === '') {
      if (this.data.length > 0) {
        events.push({ event: this.type || 'message', data: this.data.join('\n'), id: this.lastId });
      }
      this.type = '';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.type = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.lastId = value;
  }
}

const ENDED = new Set(['completed', 'failed', 'cancelled', 'timeout']);

/** The server closes a run's event stream once this holds: ended, and no handler still running. */
export function runIsOver(run: Pick<RunView, 'status' | 'handlers'>): boolean {
  return ENDED.has(run.status) && !(run.handlers ?? []).some((h) => h.status === 'running');
}

export interface FollowHandlers {
  /** The run, on connect and whenever it changes (possibly repeated after a reconnect). */
  run?(run: RunView): void;
  /** Each log line once, oldest first. */
  log?(line: LogView): void;
}

export interface FollowOptions {
  /** Reconnections (with Last-Event-ID) after a stream drops, before falling back to polling. @default 3 */
  readonly reconnects?: number;
  /** A stream silent this long (the server pings every 15 s) counts as dropped. @default 45000 */
  readonly idleMs?: number;
  /** The polling interval of the fallback. @default 500 */
  readonly pollMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** 429s waited out (each at most 60 s, as Retry-After says) before the CLI gives up. */
const MAX_RATE_LIMIT_RETRIES = 3;

/** The CLI's view of the HTTP API: JSON in, JSON out, problem+json turned back into SwarmErrors. */
export class ApiClient {
  constructor(
    /** The server's URL, e.g. `http://127.0.0.1:7373`. */
    readonly baseUrl: string,
    private readonly apiKey: string,
    /** Where the URL came from, named when no server answers there. */
    private readonly urlFrom?: string,
    /** An admin's CLI acting for this owner (SWARM_OWNER), sent as `X-Swarm-Owner`. */
    private readonly owner?: string,
  ) {}

  /**
   * The server and key of the saved credential the environment picks (see `resolveTarget`):
   * SWARM_URL / SWARM_PORT and SWARM_API_KEY override it. `warn` hears which credential was
   * taken when that was a guess among several.
   */
  static fromConfig(config: Config, cwd = process.cwd(), warn?: (text: string) => void): ApiClient {
    const target = resolveTarget(config, cwd);
    if (target.note !== null) warn?.(target.note);
    return new ApiClient(target.url, target.apiKey, target.urlFrom, config.owner);
  }

  /** The client of a CLI command, from its environment. */
  static forCli(io: CliIo): ApiClient {
    return ApiClient.fromConfig(loadConfig(io.env, io.cwd), io.cwd, (text) => io.err(text));
  }

  /** `headers`: the few a command adds (If-None-Match for create-only). */
  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Readonly<Record<string, string>> = {},
  ): Promise<T> {
    // A 429 (the key's rate limit) was refused before anything ran, so it is safe to send again
    // once Retry-After has passed: `--wait` and `--follow` polls slow down instead of failing.
    for (let retries = 0; ; retries++) {
      const response = await this.send(method, path, body, headers);
      const wait = Number(response.headers.get('retry-after'));
      if (response.status === 429 && retries < MAX_RATE_LIMIT_RETRIES && wait > 0 && wait <= 60) {
        await response.body?.cancel();
        await sleep(wait * 1000);
        continue;
      }
      const text = await response.text();
      if (!response.ok) throw problemError(response.status, text);
      return (text === '' ? null : JSON.parse(text)) as T;
    }
  }

  private ownerHeader(): Record<string, string> {
    return this.owner === undefined ? {} : { 'x-swarm-owner': this.owner };
  }

  private async send(
    method: string,
    path: string,
    body?: unknown,
    headers: Readonly<Record<string, string>> = {},
  ): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: {
          ...headers,
          authorization: `Bearer ${this.apiKey}`,
          ...this.ownerHeader(),
          // Names the CLI in the audit log's user agent.
          'user-agent': CLI_USER_AGENT,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (error) {
      throw this.unreachable(error);
    }
    return response;
  }

  /**
   * A server-sent event stream, event by event, until the server closes it. Throws the
   * problem as a SwarmError if the server refuses it, and an error if it drops or goes quiet
   * for `idleMs`. Leaving the loop early closes the connection.
   */
  async *events(
    path: string,
    options: { lastEventId?: string; idleMs?: number } = {},
  ): AsyncGenerator<ServerSentEvent> {
    const controller = new AbortController();
    let idle: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(
        () => controller.abort(new Error('the event stream went quiet')),
        options.idleMs ?? 45_000,
      );
    };
    arm();
    try {
      let response: Response;
      try {
        response = await fetch(`${this.baseUrl}${path}`, {
          headers: {
            authorization: `Bearer ${this.apiKey}`,
            ...this.ownerHeader(),
            accept: 'text/event-stream',
            ...(options.lastEventId === undefined ? {} : { 'last-event-id': options.lastEventId }),
          },
          signal: controller.signal,
        });
      } catch (error) {
        throw this.unreachable(error);
      }
      if (!response.ok) throw problemError(response.status, await response.text());
      if (!(response.headers.get('content-type') ?? '').startsWith('text/event-stream') || !response.body) {
        throw new SwarmError('INTERNAL', `${path} did not answer with an event stream`);
      }
      const parser = new SseParser();
      const decoder = new TextDecoder();
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        arm();
        yield* parser.push(decoder.decode(chunk, { stream: true }));
      }
    } finally {
      clearTimeout(idle);
      controller.abort();
    }
  }

  /** Every log line of a run after `after` (all of them without), page by page; returns the last id. */
  async eachLog(
    runId: string,
    options: { after?: string; step?: string },
    each: (line: LogView) => void,
  ): Promise<string | undefined> {
    let after = options.after;
    const limit = 500;
    for (;;) {
      const params = new URLSearchParams({ limit: String(limit) });
      if (after !== undefined) params.set('after', after);
      if (options.step !== undefined) params.set('step', options.step);
      const { items } = await this.request<{ items: LogView[] }>(
        'GET',
        `/api/v1/runs/${encodeURIComponent(runId)}/logs?${params}`,
      );
      for (const line of items) each(line);
      after = items.at(-1)?.id ?? after;
      if (items.length < limit) return after;
    }
  }

  /**
   * Follows a run until it is over and returns its final state: over the event stream; after
   * a drop it reconnects with Last-Event-ID (so no log line comes twice), and when the stream
   * keeps failing or is refused it polls `GET /api/v1/runs/{id}` (and its logs) instead.
   */
  async followRun(runId: string, on: FollowHandlers = {}, options: FollowOptions = {}): Promise<RunView> {
    const reconnects = options.reconnects ?? 3;
    let lastEventId: string | undefined;
    for (let drops = 0; drops <= reconnects; drops++) {
      if (drops > 0) await sleep(250 * drops);
      let received = 0;
      try {
        for await (const event of this.events(`/api/v1/runs/${encodeURIComponent(runId)}/events`, {
          ...(lastEventId === undefined ? {} : { lastEventId }),
          ...(options.idleMs === undefined ? {} : { idleMs: options.idleMs }),
        })) {
          // More than the opening snapshot: the stream works, so a later drop is a new outage.
          if (++received > 1) drops = 0;
          if (event.event === 'log') {
            if (event.id !== undefined && event.id !== '') lastEventId = event.id;
            on.log?.(JSON.parse(event.data) as LogView);
          } else if (event.event === 'run' || event.event === 'end') {
            const run = JSON.parse(event.data) as RunView;
            on.run?.(run);
            if (event.event === 'end') return run;
          }
        }
      } catch (error) {
        // Refused (no such run, a bad key, a server without event streams): polling says why.
        if (isSwarmError(error) && error.status < 500) break;
      }
    }
    return this.pollRun(runId, lastEventId, on, options.pollMs ?? 500);
  }

  private async pollRun(
    runId: string,
    after: string | undefined,
    on: FollowHandlers,
    pollMs: number,
  ): Promise<RunView> {
    let cursor = after;
    for (;;) {
      // The run before its logs: the lines that describe its end commit with it.
      const run = await this.request<RunView>('GET', `/api/v1/runs/${encodeURIComponent(runId)}`);
      if (on.log) cursor = await this.eachLog(runId, cursor === undefined ? {} : { after: cursor }, on.log);
      on.run?.(run);
      if (runIsOver(run)) return run;
      await sleep(pollMs);
    }
  }

  private unreachable(error: unknown): SwarmError {
    return new SwarmError(
      'SERVER_UNREACHABLE',
      `no Swarm server answers at ${this.baseUrl}${this.urlFrom === undefined ? '' : ` (URL from ${this.urlFrom})`}: ${causeOf(error)}; start one (\`npm start\` in the clone, or \`swarm start\`), or point SWARM_URL or --credential at a running one`,
      { cause: error },
    );
  }
}

/** A problem+json answer as the SwarmError it describes. */
function problemError(status: number, text: string): SwarmError {
  let problem: { code?: string; detail?: string; errors?: FieldIssue[] } = {};
  try {
    problem = (text === '' ? {} : JSON.parse(text)) as typeof problem;
  } catch {
    // Not JSON (a proxy's error page): the status says enough.
  }
  const code = (
    problem.code !== undefined && problem.code in ERROR_CODES ? problem.code : 'INTERNAL'
  ) as ErrorCode;
  return new SwarmError(code, problem.detail ?? `HTTP ${status}`, {
    status,
    ...(problem.errors === undefined ? {} : { issues: problem.errors }),
  });
}

function causeOf(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message;
}
