import type { FastifyInstance } from 'fastify';
import type { Engine } from '../../engine/index.js';
import type { Registry } from '../../registry/index.js';
import { RUN_STATUSES } from '../../storage/index.js';
import { callerOf } from '../auth-hook.js';

export const runSchema = {
  $id: 'Run',
  type: 'object',
  required: ['id', 'workflow', 'version', 'status', 'steps'],
  properties: {
    id: { type: 'string' },
    workflow: { type: 'string' },
    version: { type: 'string' },
    status: { type: 'string', enum: [...RUN_STATUSES] },
    attempt: { type: 'integer' },
    steps: {
      type: 'object',
      additionalProperties: true,
      description: "Each step's status, output, error and times",
    },
    result: {},
    error: { type: ['string', 'null'] },
    errorStep: { type: ['string', 'null'] },
    startedAt: { type: ['string', 'null'] },
    completedAt: { type: ['string', 'null'] },
    durationMs: { type: ['number', 'null'] },
  },
} as const;

export function runRoutes(
  app: FastifyInstance,
  registry: Registry,
  engine: Engine,
  onRunStarted: () => void,
): void {
  app.post<{ Params: { name: string }; Body: { input?: unknown; version?: string } }>(
    '/api/v1/workflows/:name/runs',
    {
      schema: {
        tags: ['runs'],
        summary: 'Start a run of the latest (or a given) version of a workflow',
        params: {
          type: 'object',
          required: ['name'],
          properties: { name: { type: 'string', minLength: 1 } },
        },
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            input: { description: 'The run input; manual runs see it as `trigger`' },
            version: { type: 'string', minLength: 1 },
          },
        },
        response: {
          202: {
            type: 'object',
            required: ['id'],
            properties: { id: { type: 'string' }, run: { $ref: 'Run#' } },
          },
          400: { $ref: 'Problem#' },
          404: { $ref: 'Problem#' },
          409: { $ref: 'Problem#' },
        },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const { agents, workflows } = registry.as(caller);
      const workflow = await workflows.get(request.params.name, request.body?.version);
      const id = await engine.startRun(caller, workflow, agents, {
        input: request.body?.input ?? {},
        triggerType: 'manual',
      });
      onRunStarted();
      return reply.code(202).send({ id, run: await engine.getRun(caller, id) });
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/runs/:id',
    {
      schema: {
        tags: ['runs'],
        summary: 'A run with its steps',
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1 } } },
        response: { 200: { $ref: 'Run#' }, 404: { $ref: 'Problem#' } },
      },
    },
    async (request) => engine.getRun(callerOf(request), request.params.id),
  );

  app.get<{ Querystring: { workflow?: string; status?: string; limit?: number } }>(
    '/api/v1/runs',
    {
      schema: {
        tags: ['runs'],
        summary: "The caller's runs, newest first",
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            workflow: { type: 'string', minLength: 1 },
            status: { type: 'string', enum: [...RUN_STATUSES] },
            limit: { type: 'string', pattern: '^[1-9][0-9]{0,2}$', description: '1–999, default 50' },
          },
        },
        response: {
          200: { type: 'object', properties: { items: { type: 'array', items: { $ref: 'Run#' } } } },
          400: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => {
      const { workflow, status, limit } = request.query;
      return {
        items: await engine.listRuns(callerOf(request), {
          ...(workflow === undefined ? {} : { workflow }),
          ...(status === undefined ? {} : { status }),
          ...(limit === undefined ? {} : { limit: Number(limit) }),
        }),
      };
    },
  );

  app.post<{ Params: { id: string }; Body: { reason?: string } }>(
    '/api/v1/runs/:id/cancel',
    {
      schema: {
        tags: ['runs'],
        summary: 'Cancel a pending or running run; running attempts are stopped within about a second',
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1 } } },
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { reason: { type: 'string', minLength: 1, maxLength: 500 } },
        },
        response: {
          200: { $ref: 'Run#' },
          400: { $ref: 'Problem#' },
          404: { $ref: 'Problem#' },
          409: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => engine.cancelRun(callerOf(request), request.params.id, request.body?.reason),
  );

  app.post<{ Params: { id: string } }>(
    '/api/v1/runs/:id/retry',
    {
      schema: {
        tags: ['runs'],
        summary: 'Retry a failed or cancelled run from its failed step, keeping completed outputs',
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1 } } },
        response: { 200: { $ref: 'Run#' }, 404: { $ref: 'Problem#' }, 409: { $ref: 'Problem#' } },
      },
    },
    async (request) => {
      const run = await engine.retryRun(callerOf(request), request.params.id);
      onRunStarted();
      return run;
    },
  );
}
