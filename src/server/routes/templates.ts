import type { FastifyInstance } from 'fastify';
import { TemplateCatalog, type Template } from '../../templates/index.js';
import { invalidDefinition, type Registry } from '../../registry/index.js';
import { TEMPLATE_PATTERNS } from '../../storage/index.js';
import { syncTriggers } from '../../triggers/index.js';
import { callerOf } from '../auth-hook.js';
import type { RouteDeps } from './deps.js';

const parameterSchema = {
  type: 'object',
  required: ['name', 'description', 'type'],
  properties: {
    name: { type: 'string' },
    description: { type: 'string' },
    type: { type: 'string', enum: ['string', 'list', 'integer'] },
    default: {},
  },
} as const;

const templateSchema = {
  $id: 'Template',
  type: 'object',
  required: ['name', 'pattern', 'parameters', 'builtin', 'isPublic'],
  properties: {
    name: { type: 'string' },
    description: { type: ['string', 'null'] },
    pattern: { type: ['string', 'null'], enum: [...TEMPLATE_PATTERNS, null] },
    parameters: { type: 'array', items: parameterSchema },
    builtin: { type: 'boolean', description: 'Shipped with Swarm (templates/*.yaml)' },
    isPublic: { type: 'boolean', description: 'Offered to every user (the built-in ones are)' },
    workflow: {
      type: 'object',
      additionalProperties: true,
      description: 'The workflow definition, with `{{ params.NAME }}` placeholders',
    },
  },
} as const;

const nameParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;

const view = (template: Template, withWorkflow: boolean) => {
  const { workflow, ...rest } = template;
  return withWorkflow ? { ...rest, workflow } : rest;
};

/** Workflow templates (src/templates): listed, saved, and instantiated into workflows. */
export function templateRoutes(
  app: FastifyInstance,
  registry: Registry,
  deps: () => Pick<RouteDeps, 'store' | 'keyring'>,
): void {
  app.addSchema(templateSchema);
  const catalog = (request: Parameters<typeof callerOf>[0]) =>
    new TemplateCatalog(deps().store, callerOf(request));

  app.get(
    '/api/v1/templates',
    {
      config: { scope: 'workflows:read' },
      schema: {
        tags: ['templates'],
        summary: "Swarm's built-in templates, the public ones and the caller's own, with their parameters",
        response: {
          200: {
            type: 'object',
            required: ['items'],
            properties: { items: { type: 'array', items: { $ref: 'Template#' } } },
          },
        },
      },
    },
    async (request) => ({ items: (await catalog(request).list()).map((t) => view(t, false)) }),
  );

  app.get<{ Params: { name: string } }>(
    '/api/v1/templates/:name',
    {
      config: { scope: 'workflows:read' },
      schema: {
        tags: ['templates'],
        summary: 'A template with its workflow definition',
        params: nameParams,
        response: { 200: { $ref: 'Template#' }, 404: { $ref: 'Problem#' } },
      },
    },
    async (request) => view(await catalog(request).get(request.params.name), true),
  );

  app.post<{ Body: Record<string, unknown> }>(
    '/api/v1/templates',
    {
      config: { scope: 'workflows:write' },
      schema: {
        tags: ['templates'],
        summary: "Save one of the caller's private templates (201), or replace it (200)",
        description:
          'The body is `{name, description?, pattern?, parameters: [{name, description, type?, default?}], workflow}`; every `{{ params.NAME }}` the workflow uses must be declared, and every declared one used. A built-in name is a 409.',
        body: { type: 'object' },
        response: {
          200: { $ref: 'Template#' },
          201: { $ref: 'Template#' },
          400: { $ref: 'Problem#' },
          409: { $ref: 'Problem#' },
        },
      },
    },
    async (request, reply) => {
      const { template, created } = await catalog(request).save(request.body);
      return reply.code(created ? 201 : 200).send(view(template, true));
    },
  );

  app.post<{ Params: { name: string }; Body: { name?: string; parameters?: Record<string, unknown> } }>(
    '/api/v1/templates/:name/instantiate',
    {
      config: { scope: 'workflows:write' },
      schema: {
        tags: ['templates'],
        summary: 'Make a workflow from a template and apply it, as POST /api/v1/workflows does',
        description:
          "`name` is the new workflow's name (the template's `name` parameter); `parameters` fills the rest. An unknown, missing or ill-typed parameter, or a definition that does not validate, is a 400 naming it, and nothing is stored.",
        params: nameParams,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 128 },
            parameters: { type: 'object', additionalProperties: true },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['created', 'workflow'],
            properties: { created: { type: 'boolean' }, workflow: { $ref: 'Workflow#' } },
          },
          201: {
            type: 'object',
            required: ['created', 'workflow'],
            properties: { created: { type: 'boolean' }, workflow: { $ref: 'Workflow#' } },
          },
          400: { $ref: 'Problem#' },
          404: { $ref: 'Problem#' },
          409: { $ref: 'Problem#' },
        },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const { store, keyring } = deps();
      const parameters = { ...(request.body?.parameters ?? {}) };
      if (request.body?.name !== undefined) parameters.name = request.body.name;
      const definition = await catalog(request).render(request.params.name, parameters);
      const workflows = registry.as(caller).workflows;
      // Validated before anything is stored: a bad definition is a 400 and writes nothing.
      const checked = await workflows.validate(definition);
      if (!checked.ok)
        throw invalidDefinition(`workflow made from template ${request.params.name}`, checked.issues);
      const result = await workflows.apply(definition);
      const latest = await workflows.get(result.workflow.name);
      await syncTriggers(store, keyring(), caller, [latest]);
      return reply
        .code(result.created ? 201 : 200)
        .send({ created: result.created, workflow: result.workflow });
    },
  );
}
