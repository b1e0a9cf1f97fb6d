import type { FastifyInstance } from 'fastify';
import {
  invalidDefinition,
  WORKFLOW_STATES,
  type Registry,
  type WorkflowState,
} from '../../registry/index.js';
import { callerOf } from '../auth-hook.js';

export const workflowSchema = {
  $id: 'Workflow',
  type: 'object',
  required: ['id', 'name', 'version', 'enabled', 'status', 'workflow'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    version: { type: 'string' },
    description: { type: ['string', 'null'] },
    enabled: { type: 'boolean' },
    status: { type: 'string', enum: [...WORKFLOW_STATES] },
    trigger: { type: 'object', additionalProperties: true },
    workflow: {
      type: 'object',
      additionalProperties: true,
      description: 'The normalised DAG the engine runs',
    },
    definition: { type: 'object', additionalProperties: true, description: 'The document as written' },
    createdAt: { type: 'string' },
  },
} as const;

const items = {
  type: 'object',
  required: ['items'],
  properties: { items: { type: 'array', items: { $ref: 'Workflow#' } } },
} as const;
const nameParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1 } },
} as const;
const problems = { 400: { $ref: 'Problem#' }, 404: { $ref: 'Problem#' }, 409: { $ref: 'Problem#' } } as const;
const definitionBody = {
  type: 'object',
  description: 'A workflow definition: steps form, pattern form, or nodes/edges (JSON or YAML body)',
} as const;

export function workflowRoutes(app: FastifyInstance, registry: Registry): void {
  const workflows = (request: Parameters<typeof callerOf>[0]) => registry.as(callerOf(request)).workflows;

  app.post<{ Body: Record<string, unknown> }>(
    '/api/v1/workflows',
    {
      schema: {
        tags: ['workflows'],
        summary: 'Apply a definition: a new version is stored (201); the same one again is a no-op (200)',
        body: definitionBody,
        response: {
          200: {
            type: 'object',
            properties: { created: { type: 'boolean' }, workflow: { $ref: 'Workflow#' } },
          },
          201: {
            type: 'object',
            properties: { created: { type: 'boolean' }, workflow: { $ref: 'Workflow#' } },
          },
          ...problems,
        },
      },
    },
    async (request, reply) => {
      const result = await workflows(request).apply(request.body);
      return reply.code(result.created ? 201 : 200).send(result);
    },
  );

  app.post<{ Body: Record<string, unknown> }>(
    '/api/v1/workflows/validate',
    {
      schema: {
        tags: ['workflows'],
        summary: 'Validate a definition without storing it; 400 lists every problem',
        body: definitionBody,
        response: {
          200: {
            type: 'object',
            properties: {
              valid: { type: 'boolean' },
              workflow: { type: 'object', additionalProperties: true },
            },
          },
          400: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => {
      const result = await workflows(request).validate(request.body);
      if (!result.ok) {
        throw invalidDefinition('workflow definition', result.issues);
      }
      return { valid: true, workflow: result.value };
    },
  );

  app.get(
    '/api/v1/workflows',
    {
      schema: {
        tags: ['workflows'],
        summary: 'The latest version of each workflow',
        response: { 200: items },
      },
    },
    async (request) => ({
      items: await workflows(request).list(),
    }),
  );

  app.get<{ Params: { name: string } }>(
    '/api/v1/workflows/:name',
    {
      schema: {
        tags: ['workflows'],
        summary: 'The latest version of a workflow',
        params: nameParams,
        response: { 200: { $ref: 'Workflow#' }, ...problems },
      },
    },
    async (request) => workflows(request).get(request.params.name),
  );

  app.get<{ Params: { name: string } }>(
    '/api/v1/workflows/:name/versions',
    {
      schema: {
        tags: ['workflows'],
        summary: 'Every stored version of a workflow',
        params: nameParams,
        response: { 200: items, ...problems },
      },
    },
    async (request) => ({ items: await workflows(request).versions(request.params.name) }),
  );

  app.get<{ Params: { name: string; version: string } }>(
    '/api/v1/workflows/:name/versions/:version',
    {
      schema: {
        tags: ['workflows'],
        summary: 'One version of a workflow',
        params: {
          type: 'object',
          required: ['name', 'version'],
          properties: { name: { type: 'string' }, version: { type: 'string' } },
        },
        response: { 200: { $ref: 'Workflow#' }, ...problems },
      },
    },
    async (request) => workflows(request).get(request.params.name, request.params.version),
  );

  app.patch<{ Params: { name: string }; Body: { enabled?: boolean; status?: WorkflowState } }>(
    '/api/v1/workflows/:name',
    {
      schema: {
        tags: ['workflows'],
        summary: 'Enable, disable, or change the status of a workflow (all its versions)',
        params: nameParams,
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: {
            enabled: { type: 'boolean' },
            status: { type: 'string', enum: [...WORKFLOW_STATES] },
          },
        },
        response: { 200: { $ref: 'Workflow#' }, ...problems },
      },
    },
    async (request) => workflows(request).setState(request.params.name, request.body),
  );
}
