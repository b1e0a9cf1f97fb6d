import type { FastifyInstance } from 'fastify';
import { generateApiKey, grantFor } from '../../auth/index.js';
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
  rateLimitPerMinute?: number;
  rateLimitPerHour?: number;
}

export function keyRoutes(app: FastifyInstance, store: Store): void {
  app.get(
    '/api/v1/keys',
    {
      config: { scope: 'keys:read' },
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
      config: { scope: 'keys:write' },
      schema: {
        tags: ['auth'],
        summary: 'Create an API key; the key is in this response only',
        description:
          "Never more than the key making it: `scopes` (default: that key's own) each held by it (`*` only if it holds `*`, `agents:publish` only if it names it), `expiresAt` (default: that key's expiry) no later than its own, `rateLimitPerMinute`/`rateLimitPerHour` (default: that key's; a session's 60 and 1000) no higher than its own unless the caller is an admin. Unknown scopes are 400, anything more 403, each naming `body.scopes[i]` or `body.expiresAt`.",
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 255 },
            description: { type: 'string', maxLength: 512 },
            scopes: { type: 'array', items: { type: 'string', minLength: 1 }, maxItems: 64 },
            expiresAt: { type: 'string', format: 'date-time' },
            rateLimitPerMinute: { type: 'integer', minimum: 1, maximum: 1_000_000_000 },
            rateLimitPerHour: { type: 'integer', minimum: 1, maximum: 1_000_000_000 },
          },
        },
        response: {
          201: {
            type: 'object',
            required: ['key', 'apiKey'],
            properties: { key: { type: 'string' }, apiKey: { $ref: 'ApiKey#' } },
          },
          400: { $ref: 'Problem#' },
          403: { $ref: 'Problem#' },
        },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const scoped = store.as(caller);
      const { name, description, scopes, expiresAt, rateLimitPerMinute, rateLimitPerHour } = request.body;
      // The key this request came with bounds the new one (a session has none).
      const ownKey =
        caller.keyId === undefined
          ? null
          : ((await scoped.apiKeys.list()).find((k) => k.id === caller.keyId) ?? null);
      const grant = grantFor(caller, ownKey, {
        ...(scopes === undefined ? {} : { scopes }),
        ...(expiresAt === undefined ? {} : { expiresAt }),
        ...(rateLimitPerMinute === undefined ? {} : { rateLimitPerMinute }),
        ...(rateLimitPerHour === undefined ? {} : { rateLimitPerHour }),
      });
      const generated = generateApiKey();
      const apiKey = await scoped.apiKeys.create({
        name,
        ...(description === undefined ? {} : { description }),
        scopes: grant.scopes,
        ...(grant.expiresAt === undefined ? {} : { expiresAt: grant.expiresAt }),
        rateLimitPerMinute: grant.rateLimitPerMinute,
        rateLimitPerHour: grant.rateLimitPerHour,
        prefix: generated.prefix,
        hash: generated.hash,
      });
      return reply.code(201).send({ key: generated.key, apiKey });
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/api/v1/keys/:id',
    {
      config: { scope: 'keys:write' },
      schema: {
        tags: ['auth'],
        summary: 'Revoke one of the caller’s API keys',
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1 } } },
        response: { 200: { $ref: 'ApiKey#' }, 404: { $ref: 'Problem#' } },
      },
    },
    async (request) => {
      // Audited in the revocation's transaction (storage/repositories/api-keys.ts).
      return store.as(callerOf(request)).apiKeys.revoke(request.params.id);
    },
  );
}
