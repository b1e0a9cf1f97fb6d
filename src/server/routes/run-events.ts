import { PassThrough } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Engine, LogView, RunLogs, RunView } from '../../engine/index.js';
import { isSwarmError } from '../../errors/index.js';
import { callerOf } from '../auth-hook.js';

/** A log id: a UUID (v7). */
export const LOG_ID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

const ENDED = new Set(['completed', 'failed', 'cancelled', 'timeout']);

/** One object for every request: Fastify caches the serializer it compiles per schema object. */
const RUN_REF = { $ref: 'Run#' };

/** A run is over for a follower once it has ended and none of its handlers is still running. */
export function runIsOver(run: Pick<RunView, 'status' | 'handlers'>): boolean {
  return ENDED.has(run.status) && !(run.handlers ?? []).some((h) => h.status === 'running');
}

export interface EventStreamOptions {
  /** How often a stream looks for changes. @default 200 */
  readonly pollMs?: number;
  /** How often an idle stream sends a `: ping` comment line. @default 15000 */
  readonly heartbeatMs?: number;
}

/** The streams each app has open, so tests can see a closed connection stop its polling. */
const openStreams = new WeakMap<FastifyInstance, Set<() => void>>();

/** How many event streams the app is serving now. */
export function openEventStreams(app: FastifyInstance): number {
  return openStreams.get(app)?.size ?? 0;
}

function frame(event: string, data: unknown, id?: string): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * `GET /api/v1/runs/{id}/events`: a run as server-sent events. The database is the only channel
 * (any process may advance a run), so each stream polls it: the run row and the log lines after
 * the last one sent, every `pollMs`, until the run is over or the client goes away.
 */
export function runEventRoutes(
  app: FastifyInstance,
  engine: Engine,
  logs: RunLogs,
  options: EventStreamOptions = {},
): void {
  const pollMs = options.pollMs ?? 200;
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const streams = new Set<() => void>();
  openStreams.set(app, streams);
  // Open streams would hold close() up for ever: end them before the server waits for its
  // connections (each response then finishes and its connection closes).
  app.addHook('preClose', (done) => {
    for (const end of [...streams]) end();
    done();
  });

  app.get<{
    Params: { id: string };
    Querystring: { after?: string };
    Headers: { 'last-event-id'?: string };
  }>(
    '/api/v1/runs/:id/events',
    {
      config: { scope: 'runs:read' },
      schema: {
        tags: ['runs'],
        summary: 'Follow a run as server-sent events: its state, its log lines, and its end',
        description: [
          'A `text/event-stream`. First `event: run` with the run (as `GET /api/v1/runs/{id}`), then',
          '`event: log` for each log line (as in `GET /api/v1/runs/{id}/logs`; `id:` is the log id),',
          "`event: run` whenever the run's state changes, and finally `event: end` with the final run",
          'once it is completed, failed, cancelled or timed out and its handlers have finished; then',
          'the server closes the stream. Idle streams get a `: ping` comment every 15 s. Log lines',
          'start after `Last-Event-ID` (a reconnecting EventSource sends it), else after `after`,',
          'else from the first. A browser EventSource reconnects when a stream closes: close it on',
          '`end`.',
        ].join(' '),
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1 } } },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            after: {
              type: 'string',
              pattern: LOG_ID_PATTERN,
              description: 'Send log lines after this log id',
            },
          },
        },
        headers: {
          type: 'object',
          properties: {
            'last-event-id': {
              type: 'string',
              pattern: LOG_ID_PATTERN,
              description: 'The last log id received; wins over `after`',
            },
          },
        },
        response: {
          200: {
            description: 'The event stream',
            content: { 'text/event-stream': { schema: { type: 'string' } } },
          },
          400: { $ref: 'Problem#' },
          404: { $ref: 'Problem#' },
        },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const runId = request.params.id;
      const after = request.headers['last-event-id'] ?? request.query.after;
      // The same JSON as GET /api/v1/runs/{id}: the Run schema decides what is shown.
      const serialize = reply.compileSerializationSchema(RUN_REF);
      const serializeRun = (run: RunView) => serialize(run as unknown as Record<string, unknown>);
      // Before the stream starts, so a run that is not the caller's is a 404 problem.
      const first = await engine.getRun(caller, runId);
      const tail = logs.tail(caller, runId, after === undefined ? {} : { after });

      const out = new PassThrough();
      let ended = false;
      let timer: NodeJS.Timeout | undefined;
      let wake: () => void = () => {};
      const heartbeat = setInterval(() => out.write(': ping\n\n'), heartbeatMs);
      const end = () => {
        if (ended) return;
        ended = true;
        clearTimeout(timer);
        clearInterval(heartbeat);
        streams.delete(end);
        wake();
        out.end();
      };
      streams.add(end);
      // The client went away (or the response finished): stop polling.
      reply.raw.once('close', end);
      out.once('close', end);

      const sendRun = (event: 'run' | 'end', run: RunView) =>
        out.write(`event: ${event}\ndata: ${serializeRun(run)}\n\n`);
      const sendLog = (line: LogView, id: string | undefined) => out.write(frame('log', line, id));

      let lastRun = serializeRun(first);
      sendRun('run', first);
      // The newest log id sent: a late line (see RunLogs.tail) goes out without `id:`, so a
      // reconnecting client's Last-Event-ID never moves back.
      let newest = tail.lastId;
      let failures = 0;

      const tick = async (): Promise<void> => {
        try {
          // The run before its logs: the lines that describe its end commit with it.
          const run = await engine.getRun(caller, runId);
          const lines = await tail.next();
          if (ended) return;
          for (const line of lines) {
            const advances = newest === undefined || line.id > newest;
            if (advances) newest = line.id;
            sendLog(line, advances ? line.id : undefined);
          }
          const json = serializeRun(run);
          if (json !== lastRun) {
            lastRun = json;
            sendRun('run', run);
          }
          if (runIsOver(run)) {
            sendRun('end', run);
            end();
            return;
          }
          failures = 0;
        } catch (error) {
          if (ended) return;
          // The run is gone, or the database keeps failing: close; the client may reconnect.
          if ((isSwarmError(error) && error.code === 'NOT_FOUND') || ++failures >= 5) {
            request.log.warn({ err: error, runId }, 'event stream closed');
            end();
            return;
          }
          request.log.warn({ err: error, runId }, 'event stream poll failed; trying again');
        }
        // A slow reader: wait until it has taken what was written.
        if (out.writableNeedDrain) {
          await new Promise<void>((resolve) => {
            wake = resolve;
            out.once('drain', resolve);
          });
          out.removeListener('drain', wake);
        }
        if (!ended) timer = setTimeout(() => void tick(), pollMs);
      };
      void tick();

      return reply
        .code(200)
        .header('content-type', 'text/event-stream; charset=utf-8')
        .header('cache-control', 'no-cache')
        .header('x-accel-buffering', 'no')
        .send(out);
    },
  );
}
