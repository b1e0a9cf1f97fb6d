import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../config/index.js';
import { InputError, NotFoundError } from '../../errors/index.js';
import { checkProviderInput, checkProviderName } from '../../runtimes/index.js';
import type { LlmProviderRecord, Store } from '../../storage/index.js';
import { callerOf } from '../auth-hook.js';

export const llmProviderSchema = {
  $id: 'LlmProvider',
  type: 'object',
  description: 'An LLM provider. Its API key is a secret, named here, never shown',
  required: [
    'id',
    'name',
    'provider',
    'model',
    'baseUrl',
    'apiKeySecret',
    'isDefault',
    'active',
    'configuration',
  ],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    provider: { type: 'string', enum: ['openai', 'anthropic', 'ollama', 'custom'] },
    model: { type: ['string', 'null'], description: 'The model used when an agent names none' },
    baseUrl: {
      type: ['string', 'null'],
      description: "The server's root URL; null: the provider's public one",
    },
    apiKeySecret: {
      type: ['string', 'null'],
      description: 'The name of the (global) secret holding the API key; null when none or removed',
    },
    isDefault: { type: 'boolean' },
    active: { type: 'boolean' },
    configuration: {
      type: 'object',
      additionalProperties: true,
      description: 'input_cost_per_1k / output_cost_per_1k: prices per 1000 tokens, for costs',
    },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
} as const;

function view(provider: LlmProviderRecord) {
  return {
    id: provider.id,
    name: provider.name,
    provider: provider.provider,
    model: provider.model,
    baseUrl: provider.baseUrl,
    apiKeySecret: provider.apiKeySecret,
    isDefault: provider.isDefault,
    active: provider.active,
    configuration: provider.configuration,
    createdAt: provider.createdAt,
    updatedAt: provider.updatedAt,
  };
}

const nameParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 100 } },
} as const;

/**
 * `/api/v1/llm-providers`: the caller's LLM providers (openai, anthropic, ollama, custom
 * OpenAI-compatible). The API key is referenced by secret name (`api_key_secret`): set the secret
 * first with `PUT /api/v1/secrets/{name}`. Base URLs pass the worker's address policy
 * (SWARM_ALLOW_PRIVATE_NETWORKS).
 */
export function llmProviderRoutes(
  app: FastifyInstance,
  store: Store,
  urls?: { readonly allowPrivateNetworks: boolean; readonly allowedUrls: readonly string[] },
): void {
  app.addSchema(llmProviderSchema);
  const saved = {
    type: 'object',
    required: ['created', 'provider'],
    properties: { created: { type: 'boolean' }, provider: { $ref: 'LlmProvider#' } },
  } as const;

  app.put<{ Params: { name: string }; Body: unknown }>(
    '/api/v1/llm-providers/:name',
    {
      config: { scope: 'providers:write' },
      schema: {
        tags: ['llm'],
        summary: 'Create or replace an LLM provider',
        description:
          'Body: `provider` (openai, anthropic, ollama, custom), `model` (default model), `base_url` (required for custom), `api_key_secret` (the NAME of a global secret; required for openai and anthropic), `is_default`, `active`, `configuration` (`input_cost_per_1k`, `output_cost_per_1k`). 201 when created, 200 when replaced.',
        params: nameParams,
        body: {
          type: 'object',
          properties: {
            provider: { type: 'string' },
            model: { type: 'string' },
            base_url: { type: 'string' },
            api_key_secret: { type: 'string' },
            is_default: { type: 'boolean' },
            active: { type: 'boolean' },
            configuration: { type: 'object', additionalProperties: true },
          },
        },
        response: { 200: saved, 201: saved, 400: { $ref: 'Problem#' } },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      // The server's own settings; an app built without them (tests) reads the environment.
      const policy = urls ?? envUrls();
      const input = checkProviderInput(request.params.name, request.body, policy);
      const scoped = store.as(caller);
      let apiKeySecretId: string | null = null;
      if (input.apiKeySecret !== null) {
        const secret = (await scoped.secrets.list()).find(
          (s) => s.name === input.apiKeySecret && s.scope === 'global',
        );
        if (secret === undefined)
          throw new InputError(
            'api_key_secret',
            `no global secret named "${input.apiKeySecret}" (set it first with \`swarm secrets set ${input.apiKeySecret}\`)`,
          );
        apiKeySecretId = secret.id;
      }
      const { provider, created } = await scoped.llm.setProvider({
        name: input.name,
        provider: input.provider,
        model: input.model,
        baseUrl: input.baseUrl,
        apiKeySecretId,
        active: input.active,
        isDefault: input.isDefault,
        configuration: input.configuration,
      });
      return reply.code(created ? 201 : 200).send({ created, provider: view(provider) });
    },
  );

  app.get(
    '/api/v1/llm-providers',
    {
      config: { scope: 'providers:read' },
      schema: {
        tags: ['llm'],
        summary: "List the caller's LLM providers",
        response: {
          200: {
            type: 'object',
            required: ['items'],
            properties: { items: { type: 'array', items: { $ref: 'LlmProvider#' } } },
          },
        },
      },
    },
    async (request) => ({ items: (await store.as(callerOf(request)).llm.providers()).map(view) }),
  );

  app.get<{ Params: { name: string } }>(
    '/api/v1/llm-providers/:name',
    {
      config: { scope: 'providers:read' },
      schema: {
        tags: ['llm'],
        summary: 'One LLM provider',
        params: nameParams,
        response: { 200: { $ref: 'LlmProvider#' }, 404: { $ref: 'Problem#' } },
      },
    },
    async (request) => {
      const name = checkProviderName(request.params.name);
      const provider = await store.as(callerOf(request)).llm.provider(name);
      if (provider === null) throw new NotFoundError('LLM provider', name);
      return view(provider);
    },
  );

  app.delete<{ Params: { name: string } }>(
    '/api/v1/llm-providers/:name',
    {
      config: { scope: 'providers:write' },
      schema: {
        tags: ['llm'],
        summary: 'Remove an LLM provider (its API key secret stays)',
        params: nameParams,
        response: { 204: { type: 'null' }, 404: { $ref: 'Problem#' } },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const name = checkProviderName(request.params.name);
      const removed = await store.as(caller).llm.removeProvider(name);
      if (removed === null) throw new NotFoundError('LLM provider', name);
      return reply.code(204).send();
    },
  );
}

function envUrls(): { allowPrivateNetworks: boolean; allowedUrls: readonly string[] } {
  const config = loadConfig();
  return { allowPrivateNetworks: config.allowPrivateNetworks, allowedUrls: config.llmAllowedUrls };
}
