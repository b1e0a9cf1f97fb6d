import type { FastifyInstance } from 'fastify';
import {
  invalidDefinition,
  WORKFLOW_STATES,
  type Registry,
  type WorkflowState,
} from '../../registry/index.js';
import { assertPathFree, syncTriggers, type SyncedTrigger } from '../../triggers/index.js';
import { callerOf } from '../auth-hook.js';
import type { RouteDeps } from './deps.js';
import { hookUrl } from './triggers.js';

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
/** The trigger of an applied workflow; null for a manual one. Its secret is in this response only. */
const appliedTrigger = {
  type: ['object', 'null'],
  required: ['type', 'id'],
  properties: {
    type: { type: 'string', enum: ['webhook', 'schedule', 'event'] },
    id: { type: 'string' },
    path: { type: 'string', description: 'Webhook: the path under /hooks/' },
    url: { type: 'string', description: 'Webhook: /hooks/<path>, relative to the server' },
    secret: {
      type: 'string',
      description: 'Webhook, when its trigger was created now: the signing secret, shown this once',
    },
  },
} as const;
const applied = {
  type: 'object',
  required: ['created', 'workflow', 'trigger'],
  properties: { created: { type: 'boolean' }, workflow: { $ref: 'Workflow#' }, trigger: appliedTrigger },
} as const;

function triggerOf(synced: SyncedTrigger | undefined) {
  if (synced === undefined) return null;
  return {
    type: synced.type,
    id: synced.id,
    ...(synced.path === undefined ? {} : { path: synced.path, url: hookUrl(synced.path) }),
    ...(synced.secret === undefined ? {} : { secret: synced.secret }),
  };
}

const definitionBody = {
  type: 'object',
  description: 'A workflow definition: steps form, pattern form, or nodes/edges (JSON or YAML body)',
} as const;

/**
 * `deps` is a thunk because the app builds its route dependencies after these routes; it is
 * only called when a request is served.
 */
export function workflowRoutes(
  app: FastifyInstance,
  registry: Registry,
  deps: () => Pick<RouteDeps, 'store' | 'keyring'>,
): void {
  const workflows = (request: Parameters<typeof callerOf>[0]) => registry.as(callerOf(request)).workflows;

  app.post<{ Body: Record<string, unknown> }>(
    '/api/v1/workflows',
    {
      config: { scope: 'workflows:write' },
      schema: {
        tags: ['workflows'],
        summary: 'Apply a definition: a new version is stored (201); the same one again is a no-op (200)',
        description:
          "The workflow's trigger is then brought in step with its latest version. A webhook trigger created now comes with its signing secret, in this response only. A webhook path another trigger has is a 409, and nothing is stored.",
        body: definitionBody,
        response: { 200: applied, 201: applied, ...problems },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const { store, keyring } = deps();
      const scoped = workflows(request);
      // A taken webhook path is refused before a version is stored, not after.
      const checked = await scoped.validate(request.body);
      if (checked.ok && checked.value.trigger.type === 'webhook' && checked.value.trigger.path !== undefined)
        await assertPathFree(store, caller, checked.value.name, checked.value.trigger.path);
      const result = await scoped.apply(request.body);
      // The trigger follows the latest version, which an older version applied now is not.
      const latest = await scoped.get(result.workflow.name);
      const [synced] = await syncTriggers(store, keyring(), caller, [latest]);
      return reply.code(result.created ? 201 : 200).send({ ...result, trigger: triggerOf(synced) });
    },
  );

  app.post<{ Body: Record<string, unknown> }>(
    '/api/v1/workflows/validate',
    {
      config: { scope: 'workflows:read' },
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
      config: { scope: 'workflows:read' },
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
      config: { scope: 'workflows:read' },
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
      config: { scope: 'workflows:read' },
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
      config: { scope: 'workflows:read' },
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
      config: { scope: 'workflows:write' },
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
