import type { FastifyInstance } from 'fastify';
import { BACKOFF_KINDS } from '../../queue/index.js';
import type { Registry } from '../../registry/index.js';
import { TASK_STATUSES, type Store } from '../../storage/index.js';
import {
  CHAIN_STATUS_NAMES,
  MAX_DEPENDENCIES,
  ROUTING_STRATEGY_NAMES,
  TaskService,
  type SubmitChain,
  type SubmitTask,
  type TaskFilters,
  type TemplateInput,
} from '../../tasks/index.js';
import { callerOf } from '../auth-hook.js';

const CAPABILITY_PATTERN = '^[a-z0-9][a-z0-9_.-]*(:[a-z0-9_.-]+)*$';
const TEMPLATE_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$';

const retryPolicySchema = {
  type: 'object',
  additionalProperties: false,
  description:
    'Back-off between attempts; fields left out take the default (exponential, 1 s to 5 min, jitter)',
  properties: {
    backoff: { type: 'string', enum: [...BACKOFF_KINDS] },
    initial_delay_ms: { type: 'integer', minimum: 0, maximum: 86_400_000 },
    max_delay_ms: { type: 'integer', minimum: 0, maximum: 86_400_000 },
    jitter: { type: 'boolean' },
  },
} as const;

/** The fields a task, a chain step and a template share. */
const taskFields = {
  agent: {
    type: 'string',
    minLength: 1,
    maxLength: 200,
    description: '`name@version` or `name` (its latest usable version), pinned at submission',
  },
  capability: {
    type: 'string',
    minLength: 1,
    maxLength: 256,
    pattern: CAPABILITY_PATTERN,
    description: 'Instead of an agent: any agent offering it (routing picks one)',
  },
  type: { type: 'string', minLength: 1, maxLength: 128, description: 'The task type, default `task`' },
  input: { description: 'Any JSON value, default {}' },
  priority: { type: 'integer', minimum: 1, maximum: 10, description: '1 (lowest) to 10, default 5' },
  timeout_seconds: { type: 'integer', minimum: 1, maximum: 86_400 },
  max_retries: {
    type: 'integer',
    minimum: 0,
    maximum: 100,
    description: 'Retries after the first attempt, default 3',
  },
  retry_policy: retryPolicySchema,
  routing_strategy: { type: 'string', enum: [...ROUTING_STRATEGY_NAMES], description: 'Default round_robin' },
} as const;

export const taskSchema = {
  $id: 'Task',
  type: 'object',
  required: ['id', 'status', 'type', 'priority', 'attempts'],
  properties: {
    id: { type: 'string' },
    agent: { type: ['string', 'null'], description: 'name@version, pinned at submission' },
    capability: { type: ['string', 'null'] },
    type: { type: 'string' },
    status: { type: 'string', enum: [...TASK_STATUSES] },
    priority: { type: 'integer' },
    input: {},
    result: {},
    error: { type: ['string', 'null'] },
    error_code: { type: ['string', 'null'] },
    attempts: { type: 'integer', description: 'Attempts started so far' },
    max_retries: { type: 'integer' },
    retry_policy: {
      type: 'object',
      properties: {
        backoff: { type: 'string' },
        initial_delay_ms: { type: 'integer' },
        max_delay_ms: { type: 'integer' },
        jitter: { type: 'boolean' },
      },
    },
    timeout_seconds: { type: ['integer', 'null'] },
    routing_strategy: { type: 'string' },
    depends_on: { type: 'array', items: { type: 'string' } },
    blocked_by: { type: 'array', items: { type: 'string' }, description: 'Dependencies not completed yet' },
    is_blocked: { type: 'boolean' },
    chain_id: { type: ['string', 'null'] },
    template_id: { type: ['string', 'null'] },
    run_id: { type: ['string', 'null'] },
    idempotency_key: { type: ['string', 'null'] },
    expires_at: { type: ['string', 'null'] },
    created_at: { type: 'string' },
    started_at: { type: ['string', 'null'] },
    completed_at: { type: ['string', 'null'] },
    cancelled_at: { type: ['string', 'null'] },
    cancellation_reason: { type: ['string', 'null'] },
    duration_ms: { type: ['number', 'null'] },
  },
} as const;

export const taskChainSchema = {
  $id: 'TaskChain',
  type: 'object',
  required: ['id', 'name', 'status', 'current_step', 'steps', 'step_results'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    status: { type: 'string', enum: [...CHAIN_STATUS_NAMES] },
    current_step: { type: 'integer', description: 'Index (from 0) of the step running now or last' },
    steps: { type: 'array', items: { type: 'object', additionalProperties: true } },
    step_results: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          task_id: { type: 'string' },
          status: { type: 'string' },
          output: {},
          error: { type: 'string' },
        },
      },
    },
    result: { description: "The last step's output once the chain completed" },
    error: { type: ['string', 'null'] },
    created_at: { type: 'string' },
    started_at: { type: ['string', 'null'] },
    completed_at: { type: ['string', 'null'] },
  },
} as const;

export const taskTemplateSchema = {
  $id: 'TaskTemplate',
  type: 'object',
  required: ['id', 'name', 'type', 'priority', 'times_used'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    description: { type: ['string', 'null'] },
    agent: { type: ['string', 'null'] },
    capability: { type: ['string', 'null'] },
    type: { type: 'string' },
    input: {},
    priority: { type: 'integer' },
    timeout_seconds: { type: 'integer' },
    max_retries: { type: 'integer' },
    times_used: { type: 'integer' },
    created_at: { type: 'string' },
    updated_at: { type: 'string' },
  },
} as const;

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 100 } },
} as const;
const nameParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', pattern: TEMPLATE_NAME_PATTERN } },
} as const;
const reasonBody = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: { reason: { type: 'string', minLength: 1, maxLength: 500 } },
} as const;
const limitQuery = {
  type: 'string',
  pattern: '^[1-9][0-9]{0,2}$',
  description: '1–999, default 50',
} as const;

/** Standalone tasks, task chains and task templates (seed 001's task API). */
export function taskRoutes(
  app: FastifyInstance,
  registry: Registry,
  store: Store,
  onTaskSubmitted: () => void = () => {},
): void {
  const tasks = new TaskService(store, registry);
  for (const schema of [taskSchema, taskChainSchema, taskTemplateSchema]) app.addSchema(schema);

  app.post<{ Body: SubmitTask }>(
    '/api/v1/tasks',
    {
      config: { scope: 'tasks:write' },
      schema: {
        tags: ['tasks'],
        summary: 'Submit a standalone task for an agent or a capability',
        description:
          'Exactly one of `agent` and `capability` (a template may give it). 201 with the new task; 200 with the existing one when the idempotency key was used before. A task with `depends_on` waits (is_blocked) until they all complete, and fails if one of them ends otherwise. A task still waiting at `expires_at` ends EXPIRED.',
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...taskFields,
            depends_on: {
              type: 'array',
              maxItems: MAX_DEPENDENCIES,
              items: { type: 'string', minLength: 1, maxLength: 100 },
            },
            expires_at: { type: 'string', format: 'date-time' },
            idempotency_key: { type: 'string', minLength: 1, maxLength: 255 },
            template: { type: 'string', pattern: TEMPLATE_NAME_PATTERN },
          },
        },
        response: {
          200: { $ref: 'Task#' },
          201: { $ref: 'Task#' },
          400: { $ref: 'Problem#' },
        },
      },
    },
    async (request, reply) => {
      const { task, created } = await tasks.submit(callerOf(request), request.body);
      if (created) onTaskSubmitted();
      return reply.code(created ? 201 : 200).send(task);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/tasks/:id',
    {
      config: { scope: 'tasks:read' },
      schema: {
        tags: ['tasks'],
        summary: 'A task: status, attempts, result or error, times',
        params: idParams,
        response: { 200: { $ref: 'Task#' }, 404: { $ref: 'Problem#' } },
      },
    },
    async (request) => tasks.get(callerOf(request), request.params.id),
  );

  app.get<{
    Querystring: { status?: string; capability?: string; agent?: string; before?: string; limit?: string };
  }>(
    '/api/v1/tasks',
    {
      config: { scope: 'tasks:read' },
      schema: {
        tags: ['tasks'],
        summary: "The caller's standalone tasks, newest first",
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { type: 'string', enum: [...TASK_STATUSES] },
            capability: { type: 'string', minLength: 1, maxLength: 256 },
            agent: {
              type: 'string',
              minLength: 1,
              maxLength: 200,
              pattern: '^[^@]+(@[^@]+)?$',
              description: 'An agent name, or `name@version`',
            },
            before: {
              type: 'string',
              minLength: 1,
              maxLength: 100,
              description:
                'The last task id of the previous page: the next (older) page (400 if not a task of yours)',
            },
            limit: limitQuery,
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['items'],
            properties: { items: { type: 'array', items: { $ref: 'Task#' } } },
          },
          400: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => {
      const { status, capability, agent, before, limit } = request.query;
      const filters: TaskFilters = {
        ...(status === undefined ? {} : { status }),
        ...(capability === undefined ? {} : { capability }),
        ...(agent === undefined ? {} : { agent }),
        ...(before === undefined ? {} : { before }),
        ...(limit === undefined ? {} : { limit: Number(limit) }),
      };
      return { items: await tasks.list(callerOf(request), filters) };
    },
  );

  app.post<{ Params: { id: string }; Body: { reason?: string } | null | undefined }>(
    '/api/v1/tasks/:id/cancel',
    {
      config: { scope: 'tasks:write' },
      schema: {
        tags: ['tasks'],
        summary: 'Cancel a waiting or running standalone task',
        description:
          'A running attempt is stopped within about a second. Tasks waiting for it fail; its chain ends CANCELLED. 409 if it already ended.',
        params: idParams,
        body: reasonBody,
        response: {
          200: { $ref: 'Task#' },
          400: { $ref: 'Problem#' },
          404: { $ref: 'Problem#' },
          409: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => tasks.cancel(callerOf(request), request.params.id, request.body?.reason),
  );

  app.post<{ Body: SubmitChain }>(
    '/api/v1/task-chains',
    {
      config: { scope: 'tasks:write' },
      schema: {
        tags: ['tasks'],
        summary: 'Start a chain: its steps run one after the other',
        description:
          "Each step is a task. A step with `use_previous_output` takes the previous step's output as its input; when both are objects they are merged, the step's own `input` keys winning. The chain fails when a step fails for good; its result is the last step's output.",
        body: {
          type: 'object',
          required: ['steps'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 255 },
            steps: {
              type: 'array',
              minItems: 1,
              maxItems: 100,
              items: {
                type: 'object',
                additionalProperties: false,
                properties: {
                  ...taskFields,
                  name: { type: 'string', minLength: 1, maxLength: 255 },
                  use_previous_output: { type: 'boolean' },
                },
              },
            },
          },
        },
        response: { 201: { $ref: 'TaskChain#' }, 400: { $ref: 'Problem#' } },
      },
    },
    async (request, reply) => {
      const chain = await tasks.submitChain(callerOf(request), request.body);
      onTaskSubmitted();
      return reply.code(201).send(chain);
    },
  );

  app.get<{ Querystring: { limit?: string } }>(
    '/api/v1/task-chains',
    {
      config: { scope: 'tasks:read' },
      schema: {
        tags: ['tasks'],
        summary: "The caller's chains, newest first",
        querystring: { type: 'object', additionalProperties: false, properties: { limit: limitQuery } },
        response: {
          200: {
            type: 'object',
            required: ['items'],
            properties: { items: { type: 'array', items: { $ref: 'TaskChain#' } } },
          },
          400: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => ({
      items: await tasks.listChains(
        callerOf(request),
        request.query.limit === undefined ? undefined : Number(request.query.limit),
      ),
    }),
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/task-chains/:id',
    {
      config: { scope: 'tasks:read' },
      schema: {
        tags: ['tasks'],
        summary: 'A chain: status, current step, step results, result',
        params: idParams,
        response: { 200: { $ref: 'TaskChain#' }, 404: { $ref: 'Problem#' } },
      },
    },
    async (request) => tasks.getChain(callerOf(request), request.params.id),
  );

  app.post<{ Params: { id: string }; Body: { reason?: string } | null | undefined }>(
    '/api/v1/task-chains/:id/cancel',
    {
      config: { scope: 'tasks:write' },
      schema: {
        tags: ['tasks'],
        summary: "Cancel a running chain and its current step's task",
        params: idParams,
        body: reasonBody,
        response: {
          200: { $ref: 'TaskChain#' },
          400: { $ref: 'Problem#' },
          404: { $ref: 'Problem#' },
          409: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => tasks.cancelChain(callerOf(request), request.params.id, request.body?.reason),
  );

  app.put<{ Params: { name: string }; Body: TemplateInput }>(
    '/api/v1/task-templates/:name',
    {
      config: { scope: 'tasks:write' },
      schema: {
        tags: ['tasks'],
        summary: 'Create or replace a task template (its times_used is kept)',
        description:
          "Defaults for `POST /api/v1/tasks` with `template`: the submission's own fields win, object inputs are merged. Exactly one of `agent` and `capability`.",
        params: nameParams,
        body: {
          type: 'object',
          required: ['type'],
          additionalProperties: false,
          properties: {
            description: { type: 'string', maxLength: 512 },
            agent: taskFields.agent,
            capability: taskFields.capability,
            type: taskFields.type,
            input: taskFields.input,
            priority: taskFields.priority,
            timeout_seconds: taskFields.timeout_seconds,
            max_retries: taskFields.max_retries,
          },
        },
        response: {
          200: { $ref: 'TaskTemplate#' },
          201: { $ref: 'TaskTemplate#' },
          400: { $ref: 'Problem#' },
        },
      },
    },
    async (request, reply) => {
      const { template, created } = await tasks.putTemplate(
        callerOf(request),
        request.params.name,
        request.body,
      );
      return reply.code(created ? 201 : 200).send(template);
    },
  );

  app.get(
    '/api/v1/task-templates',
    {
      config: { scope: 'tasks:read' },
      schema: {
        tags: ['tasks'],
        summary: "The caller's task templates, by name",
        response: {
          200: {
            type: 'object',
            required: ['items'],
            properties: { items: { type: 'array', items: { $ref: 'TaskTemplate#' } } },
          },
        },
      },
    },
    async (request) => ({ items: await tasks.listTemplates(callerOf(request)) }),
  );

  app.get<{ Params: { name: string } }>(
    '/api/v1/task-templates/:name',
    {
      config: { scope: 'tasks:read' },
      schema: {
        tags: ['tasks'],
        summary: 'One task template',
        params: nameParams,
        response: { 200: { $ref: 'TaskTemplate#' }, 404: { $ref: 'Problem#' } },
      },
    },
    async (request) => tasks.getTemplate(callerOf(request), request.params.name),
  );

  app.delete<{ Params: { name: string } }>(
    '/api/v1/task-templates/:name',
    {
      config: { scope: 'tasks:write' },
      schema: {
        tags: ['tasks'],
        summary: 'Delete a task template; tasks submitted from it are not affected',
        params: nameParams,
        response: { 200: { $ref: 'TaskTemplate#' }, 404: { $ref: 'Problem#' } },
      },
    },
    async (request) => tasks.deleteTemplate(callerOf(request), request.params.name),
  );
}
