import type { FastifyInstance } from 'fastify';
import { InputError } from '../../errors/index.js';
import { MAX_AUDIT_PAGE, type Store } from '../../storage/index.js';
import { callerOf } from '../auth-hook.js';

const auditRecordSchema = {
  type: 'object',
  required: ['id', 'action', 'eventType', 'success', 'createdAt'],
  properties: {
    id: { type: 'string' },
    ownerId: { type: ['string', 'null'], description: 'Whose resource it was' },
    actorId: {
      type: ['string', 'null'],
      description: 'Who did it; null for Swarm itself or a CLI on the database',
    },
    actorEmail: { type: ['string', 'null'], description: 'The actor’s email, while the user exists' },
    keyId: { type: ['string', 'null'], description: 'The API key it was done with' },
    eventType: { type: 'string', description: "The action's family (`run` for `run.cancel`)" },
    action: { type: 'string', description: '`<resource>.<verb>`, e.g. `workflow.apply`, `run.cancel`' },
    success: { type: 'boolean' },
    resourceType: { type: ['string', 'null'] },
    resourceId: { type: ['string', 'null'] },
    ipAddress: { type: ['string', 'null'] },
    userAgent: { type: ['string', 'null'] },
    errorMessage: { type: ['string', 'null'] },
    metadata: { type: 'object', additionalProperties: true, description: 'Details; never secret values' },
    createdAt: { type: 'string', format: 'date-time' },
  },
} as const;

interface AuditQuery {
  actor?: string;
  action?: string;
  resourceType?: string;
  resourceId?: string;
  since?: string;
  until?: string;
  cursor?: string;
  limit?: string;
}

/**
 * `GET /api/v1/audit-logs`: what changed, who did it and from where, newest first, a page at a
 * time. Admins see every owner's rows; anyone else the rows of their resources and of their acts.
 */
export function auditLogRoutes(app: FastifyInstance, store: Store): void {
  app.get<{ Querystring: AuditQuery }>(
    '/api/v1/audit-logs',
    {
      config: { scope: 'audit:read' },
      schema: {
        tags: ['auth'],
        summary: 'The audit log: every change, newest first (admins: everyone’s; others: their own)',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            actor: { type: 'string', minLength: 1, description: 'The acting user’s id or email' },
            action: {
              type: 'string',
              minLength: 1,
              description: 'An action (`run.cancel`), a family (`run`), or a prefix ending in `*`',
            },
            resourceType: { type: 'string', minLength: 1 },
            resourceId: { type: 'string', minLength: 1 },
            since: { type: 'string', description: 'At or after this ISO-8601 instant' },
            until: { type: 'string', description: 'At or before this ISO-8601 instant' },
            cursor: { type: 'string', description: 'The `nextCursor` of the previous page' },
            limit: { type: 'string', description: `1–${MAX_AUDIT_PAGE}, default 100` },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['items', 'nextCursor'],
            properties: {
              items: { type: 'array', items: auditRecordSchema },
              nextCursor: { type: ['string', 'null'], description: 'Null on the last page' },
            },
          },
          400: { $ref: 'Problem#' },
          401: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => {
      const { limit, ...filters } = request.query;
      if (limit !== undefined && !/^[1-9]\d{0,3}$/.test(limit))
        throw new InputError('limit', `must be an integer from 1 to ${MAX_AUDIT_PAGE}`);
      return store.as(callerOf(request)).audit.list({
        ...filters,
        ...(limit === undefined ? {} : { limit: Number(limit) }),
      });
    },
  );
}
