import type { FastifyInstance } from 'fastify';
import { listRunAttempts } from '../../engine/index.js';
import type { Store } from '../../storage/index.js';
import { callerOf } from '../auth-hook.js';

const attemptSchema = {
  type: 'object',
  required: [
    'taskId',
    'stepId',
    'runAttempt',
    'itemIndex',
    'attempt',
    'status',
    'queuedAt',
    'startedAt',
    'completedAt',
    'workerId',
    'error',
  ],
  properties: {
    taskId: { type: 'string' },
    stepId: { type: 'string', description: 'The step as the definition names it' },
    runAttempt: {
      type: ['integer', 'null'],
      description: "The run attempt of a retried run's earlier task; null for the current attempt",
    },
    itemIndex: { type: ['integer', 'null'], description: 'The for_each item' },
    attempt: { type: 'integer', description: "1, 2, …: the task's claims in order" },
    status: {
      type: 'string',
      enum: [
        'queued',
        'running',
        'completed',
        'failed',
        'timeout',
        'cancelled',
        'skipped',
        'lost',
        'released',
      ],
      description:
        '`lost`: its lease expired (the worker died or stalled); `released`: handed back untried (a sleep, a shutdown)',
    },
    queuedAt: { type: 'string', description: 'Since when it waited for a worker' },
    startedAt: { type: ['string', 'null'] },
    completedAt: { type: ['string', 'null'] },
    workerId: { type: ['string', 'null'] },
    error: { type: ['string', 'null'], description: 'Kept for the latest failure of a task only' },
  },
} as const;

/**
 * `GET /api/v1/runs/{id}/attempts`: every attempt of a run's tasks, for the dashboard's
 * waterfall (see src/engine/attempts.ts for what an attempt is).
 */
export function runAttemptRoutes(app: FastifyInstance, store: Store): void {
  app.get<{ Params: { id: string }; Querystring: { step?: string; limit?: string; after?: string } }>(
    '/api/v1/runs/:id/attempts',
    {
      config: { scope: 'runs:read' },
      schema: {
        tags: ['runs'],
        summary: "Every attempt of a run's tasks: queued, started, ended, by which worker",
        description:
          'Tasks in creation order, each with its attempts; `next` is set when there may be more tasks: pass it as `after`.',
        params: {
          type: 'object',
          required: ['id'],
          properties: { id: { type: 'string', minLength: 1, maxLength: 200 } },
        },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            step: { type: 'string', minLength: 1, maxLength: 200, description: "Only this step's tasks" },
            limit: {
              type: 'string',
              pattern: '^[1-9][0-9]{0,3}$|^10000$',
              description: 'Tasks per page, 1–10000, default 1000',
            },
            after: {
              type: 'string',
              minLength: 1,
              maxLength: 200,
              description: 'The `next` of the previous page',
            },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['items', 'next'],
            properties: {
              items: { type: 'array', items: attemptSchema },
              next: { type: ['string', 'null'] },
            },
          },
          400: { $ref: 'Problem#' },
          404: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => {
      const { step, limit, after } = request.query;
      return listRunAttempts(store.handle.db, store.handle.dialect, callerOf(request), request.params.id, {
        ...(step === undefined ? {} : { step }),
        ...(limit === undefined ? {} : { limit: Number(limit) }),
        ...(after === undefined ? {} : { after }),
      });
    },
  );
}
