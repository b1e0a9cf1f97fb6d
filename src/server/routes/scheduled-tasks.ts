import type { FastifyInstance } from 'fastify';
import {
  MISFIRE_POLICIES,
  ScheduledTaskService,
  type ScheduleTaskChanges,
  type ScheduleTaskInput,
} from '../../tasks/index.js';
import { callerOf } from '../auth-hook.js';
import type { RouteDeps } from './deps.js';

export const scheduledTaskSchema = {
  $id: 'ScheduledTask',
  type: 'object',
  required: ['id', 'name', 'cron', 'timezone', 'capability', 'active', 'nextRunAt'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    cron: { type: 'string' },
    timezone: { type: 'string' },
    capability: { type: 'string' },
    taskType: { type: 'string' },
    input: {},
    priority: { type: 'integer' },
    timeoutSeconds: { type: 'integer' },
    misfire: { type: 'string', enum: [...MISFIRE_POLICIES] },
    catchUpLimit: { type: 'integer' },
    active: { type: 'boolean' },
    nextRunAt: {
      type: ['string', 'null'],
      description: 'The next tick; null when the expression never fires again',
    },
    lastRunAt: { type: ['string', 'null'], description: 'The tick of the last task submitted' },
    totalRuns: { type: 'integer', description: 'Tasks submitted' },
    successfulRuns: { type: 'integer', description: 'Tasks that completed' },
    failedRuns: { type: 'integer', description: 'Tasks that failed (after their last attempt) or timed out' },
    createdAt: { type: 'string' },
    updatedAt: { type: 'string' },
  },
} as const;

/** Shapes only: the service checks values (cron, time zone, ranges) and names the field. */
const editable = {
  cron: { type: 'string', minLength: 1, maxLength: 200, description: '5 or 6 fields, or an @-nickname' },
  timezone: { type: 'string', minLength: 1, maxLength: 100, description: 'IANA name, default UTC' },
  taskType: { type: 'string', minLength: 1, maxLength: 128, description: 'Default `task`' },
  input: { description: 'Any JSON value, default {}; an object gets `scheduled_for` (the tick)' },
  priority: { type: 'integer', description: '1 (lowest) to 10, default 5' },
  timeoutSeconds: { type: 'integer', description: '1 to 86400, default 300' },
  misfire: { type: 'string', enum: [...MISFIRE_POLICIES], description: 'Default skip' },
  catchUpLimit: { type: 'integer', description: '1 to 1000, default 10 (with catch_up)' },
} as const;

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, description: 'Its id or name' } },
} as const;
const problems = { 400: { $ref: 'Problem#' }, 404: { $ref: 'Problem#' }, 409: { $ref: 'Problem#' } } as const;

/** `/api/v1/scheduled-tasks`: cron schedules that submit a standalone capability task per tick. */
export function scheduledTaskRoutes(app: FastifyInstance, deps: RouteDeps): void {
  app.addSchema(scheduledTaskSchema);
  const service = new ScheduledTaskService(deps.store);

  app.post<{ Body: ScheduleTaskInput }>(
    '/api/v1/scheduled-tasks',
    {
      config: { scope: 'tasks:write' },
      schema: {
        tags: ['tasks'],
        summary: 'Schedule a task: one standalone task with this capability per cron tick',
        body: {
          type: 'object',
          required: ['name', 'cron', 'capability'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 200 },
            capability: { type: 'string', minLength: 1, maxLength: 256 },
            ...editable,
          },
        },
        response: { 201: { $ref: 'ScheduledTask#' }, ...problems },
      },
    },
    async (request, reply) => reply.code(201).send(await service.create(callerOf(request), request.body)),
  );

  app.get(
    '/api/v1/scheduled-tasks',
    {
      config: { scope: 'tasks:read' },
      schema: {
        tags: ['tasks'],
        summary: "The caller's scheduled tasks, by name",
        response: {
          200: {
            type: 'object',
            required: ['items'],
            properties: { items: { type: 'array', items: { $ref: 'ScheduledTask#' } } },
          },
        },
      },
    },
    async (request) => ({ items: await service.list(callerOf(request)) }),
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/scheduled-tasks/:id',
    {
      config: { scope: 'tasks:read' },
      schema: {
        tags: ['tasks'],
        summary: 'One scheduled task, with its counters',
        params: idParams,
        response: { 200: { $ref: 'ScheduledTask#' }, ...problems },
      },
    },
    async (request) => service.get(callerOf(request), request.params.id),
  );

  app.patch<{ Params: { id: string }; Body: ScheduleTaskChanges }>(
    '/api/v1/scheduled-tasks/:id',
    {
      config: { scope: 'tasks:write' },
      schema: {
        tags: ['tasks'],
        summary: 'Pause (active: false) or resume it, or change its schedule or task fields',
        description:
          'Resumed, or with a new cron or time zone, it starts from now: ticks it slept through are not misfires.',
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: { active: { type: 'boolean' }, ...editable },
        },
        response: { 200: { $ref: 'ScheduledTask#' }, ...problems },
      },
    },
    async (request) => service.update(callerOf(request), request.params.id, request.body),
  );

  app.delete<{ Params: { id: string } }>(
    '/api/v1/scheduled-tasks/:id',
    {
      config: { scope: 'tasks:write' },
      schema: {
        tags: ['tasks'],
        summary: 'Remove a scheduled task; the tasks it submitted stay',
        params: idParams,
        response: { 204: { type: 'null' }, 404: { $ref: 'Problem#' } },
      },
    },
    async (request, reply) => {
      await service.remove(callerOf(request), request.params.id);
      return reply.code(204).send();
    },
  );
}
