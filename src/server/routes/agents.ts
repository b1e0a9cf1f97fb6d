import type { FastifyInstance } from 'fastify';
import { AGENT_STATES, type AgentState, type Registry } from '../../registry/index.js';
import { callerOf } from '../auth-hook.js';

export const agentSchema = {
  $id: 'Agent',
  type: 'object',
  required: ['name', 'version', 'builtin', 'status', 'manifest'],
  properties: {
    id: { type: ['string', 'null'] },
    name: { type: 'string' },
    version: { type: 'string' },
    builtin: { type: 'boolean' },
    status: { type: 'string' },
    manifest: {
      type: 'object',
      additionalProperties: true,
      description: 'The validated manifest, defaults filled in',
    },
    path: { type: ['string', 'null'] },
    trustScore: { type: ['number', 'null'] },
    healthScore: { type: ['number', 'null'] },
    createdAt: { type: ['string', 'null'] },
  },
} as const;

const items = {
  type: 'object',
  required: ['items'],
  properties: { items: { type: 'array', items: { $ref: 'Agent#' } } },
} as const;
const nameParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1 } },
} as const;
const versionParams = {
  type: 'object',
  required: ['name', 'version'],
  properties: { name: { type: 'string', minLength: 1 }, version: { type: 'string', minLength: 1 } },
} as const;
const problems = { 400: { $ref: 'Problem#' }, 404: { $ref: 'Problem#' }, 409: { $ref: 'Problem#' } } as const;

interface ListQuery {
  capability?: string;
  tag?: string;
  type?: string;
  status?: string;
  builtin?: 'true' | 'false';
}

export function agentRoutes(app: FastifyInstance, registry: Registry): void {
  const agents = (request: Parameters<typeof callerOf>[0]) => registry.as(callerOf(request)).agents;

  app.post<{ Body: Record<string, unknown>; Querystring: { path?: string } }>(
    '/api/v1/agents',
    {
      config: { scope: 'agents:write' },
      schema: {
        tags: ['agents'],
        summary: 'Register an agent version from its manifest (JSON or YAML body)',
        description:
          'The same name and version with the same content is a no-op (200); with other content, 409. Every problem of an invalid manifest is listed in `errors`. A node, python or binary agent also needs the `agents:publish` scope (403 otherwise) and a `path` inside the agents folders, SWARM_AGENTS_DIRS (400 otherwise): see docs/runtimes.md.',
        querystring: {
          type: 'object',
          properties: {
            path: {
              type: 'string',
              description:
                "The agent's folder, for local runtimes: an absolute path that resolves (symlinks followed) inside one of the agents folders",
            },
          },
        },
        body: { type: 'object' },
        response: {
          200: { type: 'object', properties: { created: { type: 'boolean' }, agent: { $ref: 'Agent#' } } },
          201: { type: 'object', properties: { created: { type: 'boolean' }, agent: { $ref: 'Agent#' } } },
          ...problems,
          403: { $ref: 'Problem#' },
        },
      },
    },
    async (request, reply) => {
      const result = await agents(request).register(
        request.body,
        request.query.path === undefined ? {} : { path: request.query.path },
      );
      return reply.code(result.created ? 201 : 200).send(result);
    },
  );

  app.get<{ Querystring: ListQuery }>(
    '/api/v1/agents',
    {
      config: { scope: 'agents:read' },
      schema: {
        tags: ['agents'],
        summary: 'The latest version of each agent, filtered',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            capability: { type: 'string' },
            tag: { type: 'string' },
            type: { type: 'string', enum: ['reasoning', 'execution', 'coordination', 'analysis'] },
            status: {
              type: 'string',
              enum: ['active', 'inactive', 'error', 'maintenance', 'deprecated', 'disabled'],
            },
            // A string: the app does not coerce types, so "true" must be named as such.
            builtin: {
              type: 'string',
              enum: ['true', 'false'],
              description: "Include Swarm's builtin agents (default true)",
            },
          },
        },
        response: { 200: items, 400: { $ref: 'Problem#' } },
      },
    },
    async (request) => {
      const { builtin, ...filters } = request.query;
      return { items: await agents(request).list({ ...filters, includeBuiltin: builtin !== 'false' }) };
    },
  );

  app.get<{ Params: { name: string } }>(
    '/api/v1/agents/:name',
    {
      config: { scope: 'agents:read' },
      schema: {
        tags: ['agents'],
        summary: 'The latest version of an agent',
        params: nameParams,
        response: { 200: { $ref: 'Agent#' }, ...problems },
      },
    },
    async (request) => agents(request).get(request.params.name),
  );

  app.get<{ Params: { name: string } }>(
    '/api/v1/agents/:name/versions',
    {
      config: { scope: 'agents:read' },
      schema: {
        tags: ['agents'],
        summary: 'Every version of an agent, oldest first',
        params: nameParams,
        response: { 200: items, ...problems },
      },
    },
    async (request) => ({ items: await agents(request).versions(request.params.name) }),
  );

  app.get<{ Params: { name: string; version: string } }>(
    '/api/v1/agents/:name/versions/:version',
    {
      config: { scope: 'agents:read' },
      schema: {
        tags: ['agents'],
        summary: 'One version of an agent',
        params: versionParams,
        response: { 200: { $ref: 'Agent#' }, ...problems },
      },
    },
    async (request) => agents(request).get(request.params.name, request.params.version),
  );

  app.patch<{ Params: { name: string }; Body: { status: AgentState; version?: string } }>(
    '/api/v1/agents/:name',
    {
      config: { scope: 'agents:write' },
      schema: {
        tags: ['agents'],
        summary: 'Deprecate, disable or re-activate an agent (one version, or all)',
        params: nameParams,
        body: {
          type: 'object',
          required: ['status'],
          additionalProperties: false,
          properties: {
            status: { type: 'string', enum: [...AGENT_STATES] },
            version: { type: 'string', minLength: 1 },
          },
        },
        response: { 200: items, ...problems, 403: { $ref: 'Problem#' } },
      },
    },
    async (request) => ({
      items: await agents(request).setStatus(request.params.name, request.body.status, request.body.version),
    }),
  );
}
