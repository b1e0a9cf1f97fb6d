import type { FastifyInstance } from 'fastify';
import { generateApiKey } from '../../auth/index.js';
import type { Store } from '../../storage/index.js';
import { callerOf } from '../auth-hook.js';

export const apiKeySchema = {
  $id: 'ApiKey',
  type: 'object',
  required: ['id', 'name', 'prefix', 'scopes', 'active', 'createdAt'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    description: { type: ['string', 'null'] },
    prefix: { type: 'string', description: 'The first characters of the key, to tell keys apart' },
    scopes: { type: 'array', items: { type: 'string' } },
    active: { type: 'boolean' },
    expiresAt: { type: ['string', 'null'], format: 'date-time' },
    lastUsedAt: { type: ['string', 'null'], format: 'date-time' },
    rateLimitPerMinute: { type: 'integer' },
    rateLimitPerHour: { type: 'integer' },
    createdAt: { type: 'string', format: 'date-time' },
    revokedAt: { type: ['string', 'null'], format: 'date-time' },
  },
} as const;

interface CreateKeyBody {
  name: string;
  description?: string;
  scopes?: string[];
  expiresAt?: string;
}

export function keyRoutes(app: FastifyInstance, store: Store): void {
  app.get(
    '/api/v1/keys',
    {
      schema: {
        tags: ['auth'],
        summary: "List the caller's API keys",
        response: {
          200: {
            type: 'object',
            required: ['items'],
            properties: { items: { type: 'array', items: { $ref: 'ApiKey#' } } },
          },
        },
      },
    },
    async (request) => ({ items: await store.as(callerOf(request)).apiKeys.list() }),
  );

  app.post<{ Body: CreateKeyBody }>(
    '/api/v1/keys',
    {
      schema: {
        tags: ['auth'],
        summary: 'Create an API key; the key is in this response only',
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 255 },
            description: { type: 'string', maxLength: 512 },
            scopes: { type: 'array', items: { type: 'string', minLength: 1 }, default: ['*'] },
            expiresAt: { type: 'string', format: 'date-time' },
          },
        },
        response: {
          201: {
            type: 'object',
            required: ['key', 'apiKey'],
            properties: { key: { type: 'string' }, apiKey: { $ref: 'ApiKey#' } },
          },
          400: { $ref: 'Problem#' },
        },
      },
    },
    async (request, reply) => {
      const scoped = store.as(callerOf(request));
      const generated = generateApiKey();
      const { name, description, scopes = ['*'], expiresAt } = request.body;
      const apiKey = await scoped.apiKeys.create({
        name,
        ...(description === undefined ? {} : { description }),
        scopes,
        ...(expiresAt === undefined ? {} : { expiresAt: new Date(expiresAt).toISOString() }),
        prefix: generated.prefix,
        hash: generated.hash,
      });
      await scoped.audit.record({
        eventType: 'api_key_created',
        action: 'create',
        success: true,
        resourceType: 'api_key',
        resourceId: apiKey.id,
      });
      return reply.code(201).send({ key: generated.key, apiKey });
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/api/v1/keys/:id',
    {
      schema: {
        tags: ['auth'],
        summary: 'Revoke one of the caller’s API keys',
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1 } } },
        response: { 200: { $ref: 'ApiKey#' }, 404: { $ref: 'Problem#' } },
      },
    },
    async (request) => {
      const scoped = store.as(callerOf(request));
      const apiKey = await scoped.apiKeys.revoke(request.params.id);
      await scoped.audit.record({
        eventType: 'api_key_revoked',
        action: 'revoke',
        success: true,
        resourceType: 'api_key',
        resourceId: apiKey.id,
      });
      return apiKey;
    },
  );
}
