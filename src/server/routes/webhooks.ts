import type { FastifyInstance } from 'fastify';
import {
  DELIVERY_STATUSES,
  EVENT_TYPE_PATTERN,
  MAX_DELIVERIES_LIMIT,
  MAX_DESCRIPTION_LENGTH,
  MAX_NAME_LENGTH,
  MAX_URL_LENGTH,
  WebhookService,
  type DeliveryStatus,
} from '../../webhooks/index.js';
import { callerOf } from '../auth-hook.js';
import type { RouteDeps } from './deps.js';

const nullableString = { type: ['string', 'null'] } as const;

export const webhookSchema = {
  $id: 'Webhook',
  type: 'object',
  description: 'An outgoing webhook: a URL subscribed to event types (never its secret)',
  required: [
    'id',
    'name',
    'url',
    'description',
    'eventTypes',
    'active',
    'failureCount',
    'lastDeliveryAt',
    'createdAt',
    'updatedAt',
  ],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    url: { type: 'string' },
    description: nullableString,
    eventTypes: { type: 'array', items: { type: 'string' } },
    active: { type: 'boolean' },
    failureCount: { type: 'integer', description: 'Deliveries given up since the last successful one' },
    lastDeliveryAt: { ...nullableString, format: 'date-time' },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
} as const;

const deliveryProperties = {
  id: { type: 'string', description: 'Also the `webhook-id` header: the same on every attempt' },
  webhookId: { type: 'string' },
  eventId: { type: 'string' },
  eventType: { type: 'string' },
  status: { type: 'string', enum: [...DELIVERY_STATUSES] },
  attemptCount: {
    type: 'integer',
    description: 'Attempts in the current round (a redelivery starts a new one)',
  },
  nextAttemptAt: { ...nullableString, format: 'date-time' },
  lastStatusCode: { type: ['integer', 'null'] },
  lastLatencyMs: { type: ['integer', 'null'] },
  lastError: nullableString,
  deliveredAt: { ...nullableString, format: 'date-time' },
  createdAt: { type: 'string', format: 'date-time' },
} as const;
const deliveryRequired = Object.keys(deliveryProperties);

export const deliverySchema = {
  $id: 'WebhookDelivery',
  type: 'object',
  description: 'One event sent (or to be sent) to one webhook',
  required: deliveryRequired,
  properties: deliveryProperties,
} as const;

export const deliveryDetailSchema = {
  $id: 'WebhookDeliveryDetail',
  type: 'object',
  description: 'A delivery with the body it sends and its attempts, oldest first',
  required: [...deliveryRequired, 'payload', 'attempts'],
  properties: {
    ...deliveryProperties,
    payload: {
      description:
        'The JSON body: {type, timestamp, data}; over 16 MiB, its blob reference {$blob, size, url} instead (GET the url for the body)',
    },
    attempts: {
      type: 'array',
      items: {
        type: 'object',
        required: ['attempt', 'statusCode', 'latencyMs', 'error', 'createdAt'],
        properties: {
          attempt: { type: 'integer' },
          statusCode: { type: ['integer', 'null'] },
          latencyMs: { type: 'integer' },
          error: nullableString,
          createdAt: { type: 'string', format: 'date-time' },
        },
      },
    },
  },
} as const;

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 100 } },
} as const;

const eventTypes = {
  type: 'array',
  minItems: 1,
  maxItems: 100,
  items: { type: 'string', pattern: EVENT_TYPE_PATTERN.source, maxLength: 200 },
  description: 'Event types: exact (`run.completed`), `*` for all, or a prefix ending in `*` (`run.*`)',
} as const;

const url = {
  type: 'string',
  minLength: 1,
  maxLength: MAX_URL_LENGTH,
  description:
    'An http or https URL; private addresses are refused at send time unless the server allows them',
} as const;

const withSecret = {
  type: 'object',
  required: ['webhook', 'secret'],
  properties: {
    webhook: { $ref: 'Webhook#' },
    secret: { type: 'string', description: 'The signing secret (`whsec_…`): shown this once' },
  },
} as const;

interface CreateBody {
  name: string;
  url: string;
  eventTypes: string[];
  description?: string | null;
  secret?: string;
}

interface UpdateBody {
  name?: string;
  url?: string;
  eventTypes?: string[];
  description?: string | null;
  active?: boolean;
}

/**
 * `/api/v1/webhooks` and `/api/v1/webhook-deliveries`: a user's outgoing webhooks, their
 * deliveries with every attempt, and redelivery. Only the caller's own rows are found; the
 * signing secret is in the response of create (and rotate-secret) only.
 */
export function webhookRoutes(app: FastifyInstance, deps: RouteDeps): void {
  app.addSchema(webhookSchema);
  app.addSchema(deliverySchema);
  app.addSchema(deliveryDetailSchema);
  let service: WebhookService | undefined;
  const webhooks = () => (service ??= new WebhookService(deps.store, deps.keyring()));
  // Each change writes its audit row in its own transaction (src/webhooks/service.ts).

  app.post<{ Body: CreateBody }>(
    '/api/v1/webhooks',
    {
      config: { scope: 'webhooks:write' },
      schema: {
        tags: ['webhooks'],
        summary: 'Subscribe a URL to event types; the signing secret is returned this once',
        description:
          'Deliveries are signed the Standard Webhooks way (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,…`). Without `secret`, one is generated. See docs/webhooks.md.',
        body: {
          type: 'object',
          required: ['name', 'url', 'eventTypes'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', minLength: 1, maxLength: MAX_NAME_LENGTH },
            url,
            eventTypes,
            description: { type: ['string', 'null'], maxLength: MAX_DESCRIPTION_LENGTH },
            secret: { type: 'string', description: '`whsec_` and the base64 of 24–64 bytes' },
          },
        },
        response: { 201: withSecret, 400: { $ref: 'Problem#' } },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const created = await webhooks().create(caller, request.body);
      return reply.code(201).send(created);
    },
  );

  app.get(
    '/api/v1/webhooks',
    {
      config: { scope: 'webhooks:read' },
      schema: {
        tags: ['webhooks'],
        summary: "The caller's webhooks",
        response: {
          200: {
            type: 'object',
            required: ['items'],
            properties: { items: { type: 'array', items: { $ref: 'Webhook#' } } },
          },
        },
      },
    },
    async (request) => ({ items: await webhooks().list(callerOf(request)) }),
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/webhooks/:id',
    {
      config: { scope: 'webhooks:read' },
      schema: {
        tags: ['webhooks'],
        summary: 'One webhook',
        params: idParams,
        response: { 200: { $ref: 'Webhook#' }, 404: { $ref: 'Problem#' } },
      },
    },
    async (request) => webhooks().get(callerOf(request), request.params.id),
  );

  app.patch<{ Params: { id: string }; Body: UpdateBody }>(
    '/api/v1/webhooks/:id',
    {
      config: { scope: 'webhooks:write' },
      schema: {
        tags: ['webhooks'],
        summary: 'Change a webhook: enable or disable it, its URL, event types, name or description',
        description:
          'A disabled webhook gets no new deliveries; pending ones wait until it is enabled again.',
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: {
            name: { type: 'string', minLength: 1, maxLength: MAX_NAME_LENGTH },
            url,
            eventTypes,
            description: { type: ['string', 'null'], maxLength: MAX_DESCRIPTION_LENGTH },
            active: { type: 'boolean' },
          },
        },
        response: { 200: { $ref: 'Webhook#' }, 400: { $ref: 'Problem#' }, 404: { $ref: 'Problem#' } },
      },
    },
    async (request) => {
      const updated = await webhooks().update(callerOf(request), request.params.id, request.body);
      return updated;
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/api/v1/webhooks/:id',
    {
      config: { scope: 'webhooks:write' },
      schema: {
        tags: ['webhooks'],
        summary: 'Delete a webhook with its deliveries and their attempts',
        params: idParams,
        response: { 204: { type: 'null' }, 404: { $ref: 'Problem#' } },
      },
    },
    async (request, reply) => {
      await webhooks().delete(callerOf(request), request.params.id);
      return reply.code(204).send();
    },
  );

  app.post<{ Params: { id: string } }>(
    '/api/v1/webhooks/:id/rotate-secret',
    {
      config: { scope: 'webhooks:write' },
      schema: {
        tags: ['webhooks'],
        summary: 'Give a webhook a new signing secret, returned this once',
        description: 'Attempts from now on are signed with the new secret only.',
        params: idParams,
        response: { 200: withSecret, 404: { $ref: 'Problem#' } },
      },
    },
    async (request) => {
      const rotated = await webhooks().rotateSecret(callerOf(request), request.params.id);
      return rotated;
    },
  );

  app.post<{ Params: { id: string } }>(
    '/api/v1/webhooks/:id/test',
    {
      config: { scope: 'webhooks:write' },
      schema: {
        tags: ['webhooks'],
        summary: 'Queue a `webhook.test` delivery to this webhook, whatever it subscribes to',
        params: idParams,
        response: { 202: { $ref: 'WebhookDelivery#' }, 404: { $ref: 'Problem#' } },
      },
    },
    async (request, reply) =>
      reply.code(202).send(await webhooks().test(callerOf(request), request.params.id)),
  );

  app.get<{ Params: { id: string }; Querystring: { status?: DeliveryStatus; limit?: string } }>(
    '/api/v1/webhooks/:id/deliveries',
    {
      config: { scope: 'webhooks:read' },
      schema: {
        tags: ['webhooks'],
        summary: "A webhook's deliveries, newest first",
        params: idParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { type: 'string', enum: [...DELIVERY_STATUSES] },
            limit: {
              type: 'string',
              pattern: '^([1-9][0-9]?|[1-4][0-9]{2}|500)$',
              description: `1–${MAX_DELIVERIES_LIMIT}, default 50`,
            },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['items'],
            properties: { items: { type: 'array', items: { $ref: 'WebhookDelivery#' } } },
          },
          400: { $ref: 'Problem#' },
          404: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => ({
      items: await webhooks().deliveries(callerOf(request), request.params.id, {
        ...(request.query.status === undefined ? {} : { status: request.query.status }),
        ...(request.query.limit === undefined ? {} : { limit: Number(request.query.limit) }),
      }),
    }),
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/webhook-deliveries/:id',
    {
      config: { scope: 'webhooks:read' },
      schema: {
        tags: ['webhooks'],
        summary: 'One delivery, with its body and every attempt',
        params: idParams,
        response: { 200: { $ref: 'WebhookDeliveryDetail#' }, 404: { $ref: 'Problem#' } },
      },
    },
    async (request) => webhooks().delivery(callerOf(request), request.params.id),
  );

  app.post<{ Params: { id: string } }>(
    '/api/v1/webhook-deliveries/:id/redeliver',
    {
      config: { scope: 'webhooks:write' },
      schema: {
        tags: ['webhooks'],
        summary: 'Send a delivery again, whatever its status, with a fresh round of attempts',
        description: 'Earlier attempts are kept; the new ones are numbered after them.',
        params: idParams,
        response: { 202: { $ref: 'WebhookDelivery#' }, 404: { $ref: 'Problem#' } },
      },
    },
    async (request, reply) => {
      const delivery = await webhooks().redeliver(callerOf(request), request.params.id);
      return reply.code(202).send(delivery);
    },
  );
}
