import type { FastifyInstance } from 'fastify';
import { AUTH_FAILURE_KINDS, toDbTimestamp, type Store } from '../../storage/index.js';
import { callerOf } from '../auth-hook.js';

const countSchema = {
  type: 'object',
  required: ['kind', 'windowStart', 'ipAddress', 'keyPrefix', 'resourceId', 'reason', 'attempts'],
  properties: {
    kind: { type: 'string', enum: [...AUTH_FAILURE_KINDS] },
    windowStart: { type: 'string', format: 'date-time' },
    ipAddress: { type: 'string', description: "'*': the window's overflow row; '' unknown" },
    keyPrefix: { type: 'string', description: "The key's first characters; '*' overflow; '' none sent" },
    resourceId: { type: 'string', description: "A webhook's trigger id; '' for API keys" },
    reason: { type: 'string' },
    attempts: { type: 'integer' },
    firstAt: { type: 'string', format: 'date-time' },
    lastAt: { type: 'string', format: 'date-time' },
    userAgent: { type: ['string', 'null'], description: 'The last one seen' },
  },
} as const;

/**
 * `GET /api/v1/auth-failures`: failed authentications counted per window (migration 0012).
 * Admins see every row; members the rows about their own webhook triggers and keys.
 */
export function authFailureRoutes(app: FastifyInstance, store: Store): void {
  app.get<{ Querystring: { kind?: 'api_key' | 'webhook'; since?: string; limit?: string } }>(
    '/api/v1/auth-failures',
    {
      config: { scope: 'audit:read' },
      schema: {
        tags: ['auth'],
        summary: 'Failed authentications (bad API keys, bad webhook signatures), counted per window',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            kind: { type: 'string', enum: [...AUTH_FAILURE_KINDS] },
            since: { type: 'string', description: 'Windows starting at or after this ISO-8601 instant' },
            limit: { type: 'string', pattern: '^[1-9][0-9]{0,2}$', description: '1–999, default 100' },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['items'],
            properties: { items: { type: 'array', items: countSchema } },
          },
          400: { $ref: 'Problem#' },
          401: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => {
      const { kind, since, limit } = request.query;
      const items = await store.as(callerOf(request)).audit.authFailures({
        ...(kind === undefined ? {} : { kind }),
        ...(since === undefined ? {} : { since: toDbTimestamp(since, 'querystring.since') }),
        ...(limit === undefined ? {} : { limit: Number(limit) }),
      });
      return { items: items.map(({ ownerId: _owner, ...count }) => count) };
    },
  );
}
