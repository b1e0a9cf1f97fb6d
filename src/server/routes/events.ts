import { viewStored, insertEvents } from '../../blobs/index.js';
import type { FastifyInstance } from 'fastify';
import { InputError } from '../../errors/index.js';
import { fromDbJson, SYSTEM_EVENT_SOURCE } from '../../storage/index.js';
import { callerOf } from '../auth-hook.js';
import type { RouteDeps } from './deps.js';

/** Sources and types: a letter or digit, then letters, digits and `. _ - : /`; at most 200. */
export const EVENT_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$';
export const EVENT_STATUSES = ['pending', 'dispatched', 'failed'] as const;

export const eventSchema = {
  $id: 'Event',
  type: 'object',
  required: ['id', 'source', 'type', 'status', 'attempts', 'depth', 'createdAt'],
  properties: {
    id: { type: 'string' },
    source: { type: 'string' },
    type: { type: 'string' },
    payload: {},
    status: {
      type: 'string',
      enum: [...EVENT_STATUSES],
      description: 'pending until dispatched to the event triggers that match it',
    },
    attempts: { type: 'integer', description: 'Dispatch attempts so far' },
    lastError: { type: ['string', 'null'] },
    runId: {
      type: ['string', 'null'],
      description:
        'The run that caused it: its step emitted the event, or the event is about it (run.*); null for events published through the API',
    },
    depth: {
      type: 'integer',
      description:
        'Its place in the causation chain: 0 when no run caused it, else one more than the depth of the event that started runId (0 for a run started otherwise)',
    },
    createdAt: { type: 'string' },
    dispatchedAt: { type: ['string', 'null'] },
  },
} as const;

interface PublishBody {
  source: string;
  type: string;
  payload?: unknown;
  idempotencyKey?: string;
}

/**
 * `/api/v1/events`: publish an event for the caller (workflows whose event trigger matches its
 * source and type start, once each, when the dispatcher gets to it) and list the caller's events.
 */
export function eventRoutes(app: FastifyInstance, deps: RouteDeps): void {
  app.addSchema(eventSchema);

  app.post<{ Body: PublishBody }>(
    '/api/v1/events',
    {
      config: { scope: 'events:write' },
      schema: {
        tags: ['triggers'],
        summary: 'Publish an event; 202 with its id (the same idempotency key again: the first id)',
        description: `Source \`${SYSTEM_EVENT_SOURCE}\` is reserved for the system's own events (run.completed, …).`,
        body: {
          type: 'object',
          required: ['source', 'type'],
          additionalProperties: false,
          properties: {
            source: {
              type: 'string',
              pattern: EVENT_NAME_PATTERN,
              description: 'Who says so, e.g. `github`',
            },
            type: { type: 'string', pattern: EVENT_NAME_PATTERN, description: 'What happened, e.g. `push`' },
            payload: { description: 'Any JSON value, default {}; the input of the runs it starts' },
            idempotencyKey: {
              type: 'string',
              minLength: 1,
              maxLength: 200,
              description: 'Publishing the same key twice stores one event',
            },
          },
        },
        response: {
          202: { type: 'object', required: ['id'], properties: { id: { type: 'string' } } },
          400: { $ref: 'Problem#' },
        },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const { source, type, payload, idempotencyKey } = request.body;
      // The system's events are trusted to say what runs did; a client must not forge them.
      if (source.toLowerCase() === SYSTEM_EVENT_SOURCE)
        throw new InputError('source', `"${SYSTEM_EVENT_SOURCE}" is reserved for the system's own events`);
      const { db, dialect } = deps.store.handle;
      const [id] = await insertEvents(db, dialect, [
        {
          ownerId: caller.userId,
          source,
          type,
          payload: payload === undefined ? {} : payload,
          ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
        },
      ]);
      return reply.code(202).send({ id });
    },
  );

  app.get<{ Querystring: { status?: string; type?: string; source?: string; limit?: string } }>(
    '/api/v1/events',
    {
      config: { scope: 'events:read' },
      schema: {
        tags: ['triggers'],
        summary: "The caller's events, newest first",
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { type: 'string', enum: [...EVENT_STATUSES] },
            type: { type: 'string', minLength: 1 },
            source: { type: 'string', minLength: 1 },
            limit: { type: 'string', description: '1–500, default 50' },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['items'],
            properties: { items: { type: 'array', items: { $ref: 'Event#' } } },
          },
          400: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const { status, type, source, limit: rawLimit } = request.query;
      let limit = 50;
      if (rawLimit !== undefined) {
        if (!/^\d+$/.test(rawLimit) || Number(rawLimit) < 1 || Number(rawLimit) > 500)
          throw new InputError('limit', 'must be an integer from 1 to 500');
        limit = Number(rawLimit);
      }
      const rows = await deps.store.handle.db
        .selectFrom('events')
        .selectAll()
        .where('owner_id', '=', caller.userId)
        .$if(status !== undefined, (qb) => qb.where('status', '=', status as (typeof EVENT_STATUSES)[number]))
        .$if(type !== undefined, (qb) => qb.where('type', '=', type!))
        .$if(source !== undefined, (qb) => qb.where('source', '=', source!))
        .orderBy('created_at', 'desc')
        .orderBy('id', 'desc')
        .limit(limit)
        .execute();
      return {
        items: rows.map((row) => ({
          id: row.id,
          source: row.source,
          type: row.type,
          // A large payload is a link to its blob (GET /api/v1/blobs/{sha256}).
          payload: viewStored(fromDbJson(row.payload)),
          status: row.status,
          attempts: Number(row.attempts),
          lastError: row.last_error,
          runId: row.run_id,
          depth: Number(row.depth),
          createdAt: row.created_at,
          dispatchedAt: row.dispatched_at,
        })),
      };
    },
  );
}
