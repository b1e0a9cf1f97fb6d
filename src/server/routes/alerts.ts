import type { FastifyInstance } from 'fastify';
import { resolveByHand } from '../../alerts/index.js';
import { NotFoundError } from '../../errors/index.js';
import {
  ALERT_SEVERITIES,
  ALERT_TYPES,
  type Alert,
  type AlertSeverity,
  type AlertType,
  type Store,
} from '../../storage/index.js';
import { callerOf } from '../auth-hook.js';

const nullableString = { type: ['string', 'null'] } as const;

const alertSchema = {
  $id: 'Alert',
  type: 'object',
  required: ['id', 'type', 'severity', 'cause', 'title', 'count', 'resolved', 'createdAt', 'lastSeenAt'],
  properties: {
    id: { type: 'string' },
    type: { type: 'string', enum: [...ALERT_TYPES] },
    severity: { type: 'string', enum: [...ALERT_SEVERITIES] },
    cause: {
      type: 'string',
      description: 'What it is about (`agent_failure:<agent>@<version>`): at most one open alert per cause',
    },
    title: { type: 'string' },
    message: nullableString,
    count: { type: 'integer', description: 'How many times the cause occurred while the alert was open' },
    resolved: { type: 'boolean' },
    resolvedAt: nullableString,
    resolvedBy: { ...nullableString, description: '`auto` (its cause cleared) or the id of the user' },
    relatedAgentId: nullableString,
    relatedTaskId: nullableString,
    relatedRunId: nullableString,
    metadata: { type: 'object', additionalProperties: true },
    createdAt: { type: 'string' },
    lastSeenAt: { type: 'string', description: 'When the cause last occurred' },
    updatedAt: { type: 'string' },
  },
} as const;

const view = (a: Alert) => {
  const { ownerId: _owner, ...rest } = a;
  return rest;
};

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;

interface AlertQuery {
  resolved?: 'true' | 'false';
  type?: AlertType;
  severity?: AlertSeverity;
  cursor?: string;
  limit?: string;
}

/**
 * `/api/v1/alerts`: what Swarm raised for the caller (docs/alerts.md) — agents failing or timing
 * out, crash loops, slow agents, budgets, opted-in completions — and resolving one by hand.
 */
export function alertRoutes(app: FastifyInstance, store: Store): void {
  app.addSchema(alertSchema);

  app.get<{ Querystring: AlertQuery }>(
    '/api/v1/alerts',
    {
      config: { scope: 'alerts:read' },
      schema: {
        tags: ['alerts'],
        summary: 'Your alerts, newest first, a page at a time, with how many are open',
        description:
          'Filters combine with AND. `next` is set when there may be more: pass it as `cursor` (with the same filters) for the next page. `open` counts the open alerts by severity, whatever the filters.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            resolved: { type: 'string', enum: ['true', 'false'] },
            type: { type: 'string', enum: [...ALERT_TYPES] },
            severity: { type: 'string', enum: [...ALERT_SEVERITIES] },
            cursor: {
              type: 'string',
              minLength: 1,
              maxLength: 64,
              description: 'The `next` of the previous page',
            },
            limit: { type: 'string', pattern: '^[1-9][0-9]{0,2}$', description: '1–999, default 50' },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['items', 'next', 'open'],
            properties: {
              items: { type: 'array', items: { $ref: 'Alert#' } },
              next: {
                type: ['string', 'null'],
                description: 'The cursor of the next page, if there may be one',
              },
              open: {
                type: 'object',
                required: ['info', 'warning', 'critical', 'total'],
                properties: {
                  info: { type: 'integer' },
                  warning: { type: 'integer' },
                  critical: { type: 'integer' },
                  total: { type: 'integer' },
                },
              },
            },
          },
          400: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => {
      const { resolved, limit, ...filters } = request.query;
      const alerts = store.as(callerOf(request)).alerts;
      const page = await alerts.list({
        ...filters,
        ...(resolved === undefined ? {} : { resolved: resolved === 'true' }),
        ...(limit === undefined ? {} : { limit: Number(limit) }),
      });
      const open = await alerts.openCounts();
      return {
        items: page.items.map(view),
        next: page.next,
        open: { ...open, total: open.info + open.warning + open.critical },
      };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/alerts/:id',
    {
      config: { scope: 'alerts:read' },
      schema: {
        tags: ['alerts'],
        summary: 'One of your alerts',
        params: idParams,
        response: { 200: { $ref: 'Alert#' }, 404: { $ref: 'Problem#' } },
      },
    },
    async (request) => {
      const alert = await store.as(callerOf(request)).alerts.find(request.params.id);
      if (alert === undefined) throw new NotFoundError('alert', request.params.id);
      return view(alert);
    },
  );

  app.patch<{ Params: { id: string }; Body: { resolved: true } }>(
    '/api/v1/alerts/:id',
    {
      config: { scope: 'alerts:write' },
      schema: {
        tags: ['alerts'],
        summary: 'Resolves one of your alerts by hand (recording who); publishes `alert.resolved`',
        description:
          'Resolving an alert already resolved answers it as it is. If its cause occurs again, a new alert opens.',
        params: idParams,
        body: {
          type: 'object',
          required: ['resolved'],
          additionalProperties: false,
          properties: { resolved: { type: 'boolean', const: true, description: 'Only `true`' } },
        },
        response: { 200: { $ref: 'Alert#' }, 400: { $ref: 'Problem#' }, 404: { $ref: 'Problem#' } },
      },
    },
    async (request) => view(await resolveByHand(store, callerOf(request), request.params.id)),
  );
}
