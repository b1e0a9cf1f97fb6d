import type { FastifyInstance } from 'fastify';
import { MAX_QUEUE_ASSIGNMENTS, queueSummary, TASK_STATUSES, type Store } from '../../storage/index.js';
import { callerOf } from '../auth-hook.js';

const nullableString = { type: ['string', 'null'] } as const;

const assignmentSchema = {
  type: 'object',
  required: ['taskId', 'taskStatus', 'assignedAt'],
  properties: {
    taskId: { type: 'string' },
    runId: nullableString,
    stepId: nullableString,
    agent: { type: ['string', 'null'], description: 'name@version' },
    taskStatus: { type: 'string' },
    assignedAt: { type: 'string', format: 'date-time' },
    heartbeatAt: { type: ['string', 'null'], format: 'date-time' },
  },
} as const;

export const queueSummarySchema = {
  $id: 'QueueSummary',
  type: 'object',
  required: ['generatedAt', 'depth', 'pending', 'oldestWaiting', 'workers', 'assignmentsTruncated'],
  properties: {
    generatedAt: { type: 'string', format: 'date-time' },
    depth: {
      type: 'object',
      description: "The caller's tasks (standalone and run steps) by status",
      required: [...TASK_STATUSES],
      properties: Object.fromEntries(TASK_STATUSES.map((s) => [s, { type: 'integer' }])),
    },
    pending: {
      type: 'object',
      description: 'PENDING tasks by why they wait',
      required: ['ready', 'delayed', 'blocked'],
      properties: {
        ready: { type: 'integer', description: 'Claimable now' },
        delayed: { type: 'integer', description: 'In a retry back-off, or `run_at` not reached' },
        blocked: { type: 'integer', description: 'Waiting for dependencies' },
      },
    },
    oldestWaiting: {
      type: ['object', 'null'],
      description: 'The claimable task waiting longest; null when none waits',
      required: ['taskId', 'waitingSince', 'ageMs'],
      properties: {
        taskId: { type: 'string' },
        runId: nullableString,
        stepId: nullableString,
        agent: nullableString,
        capability: nullableString,
        waitingSince: { type: 'string', format: 'date-time' },
        ageMs: { type: 'integer' },
      },
    },
    workers: {
      type: 'array',
      description: "Workers holding the caller's tasks now, with those tasks only",
      items: {
        type: 'object',
        required: ['workerId', 'assignments'],
        properties: {
          workerId: { type: 'string' },
          hostname: nullableString,
          pid: { type: ['integer', 'null'] },
          lastHeartbeatAt: { type: ['string', 'null'], format: 'date-time' },
          assignments: { type: 'array', items: assignmentSchema },
        },
      },
    },
    assignmentsTruncated: {
      type: 'boolean',
      description: `More than ${MAX_QUEUE_ASSIGNMENTS} tasks are held: the rest are not listed`,
    },
  },
} as const;

/** `GET /api/v1/queue`: the dashboard's queue view, for the caller's own tasks. */
export function queueSummaryRoutes(app: FastifyInstance, store: Store): void {
  app.addSchema(queueSummarySchema);
  app.get(
    '/api/v1/queue',
    {
      config: { scope: 'tasks:read' },
      schema: {
        tags: ['tasks'],
        summary: "The caller's queue: depth by status, oldest waiting task, workers and their assignments",
        description:
          'Counts every task of the caller, steps of runs included. A worker appears with the tasks of the caller it holds now, never with other owners’.',
        response: { 200: { $ref: 'QueueSummary#' }, 401: { $ref: 'Problem#' } },
      },
    },
    async (request) => queueSummary(store.handle.db, callerOf(request)),
  );
}
