import type { FastifyInstance } from 'fastify';
import { getHistory, listHistory } from '../../history/index.js';
import type { Store } from '../../storage/index.js';
import { callerOf } from '../auth-hook.js';
import { userSettingRoute } from './user-settings.js';

const FINISHED = ['completed', 'failed', 'timeout', 'cancelled'] as const;

const entryProperties = {
  runId: { type: 'string' },
  workflow: { type: ['string', 'null'] },
  version: { type: ['string', 'null'] },
  status: { type: 'string', enum: [...FINISHED] },
  input: {},
  output: { description: "The run's result" },
  durationMs: { type: ['number', 'null'] },
  startedAt: { type: ['string', 'null'] },
  completedAt: { type: ['string', 'null'] },
  archivedAt: { type: 'string' },
  metrics: {
    type: ['object', 'null'],
    additionalProperties: true,
    description:
      '`steps`, `attempts` (tasks), `tokens`, `cost`, `stepDurations` (ms per step), `messages` (all, even past the kept ones), `runAttempt`',
  },
} as const;

const historyEntrySchema = {
  $id: 'HistoryEntry',
  type: 'object',
  required: ['runId', 'status', 'archivedAt'],
  properties: entryProperties,
} as const;

interface HistoryListQuery {
  workflow?: string;
  status?: string;
  since?: string;
  cursor?: string;
  limit?: string;
}

/** The archive of finished runs (src/history): readable after their runs' rows are pruned. */
export function historyRoutes(app: FastifyInstance, store: Store): void {
  app.addSchema(historyEntrySchema);
  app.get<{ Querystring: HistoryListQuery }>(
    '/api/v1/history',
    {
      config: { scope: 'runs:read' },
      schema: {
        tags: ['history'],
        summary: "The caller's archived runs, newest first, a page at a time",
        description:
          'A run is archived within seconds of finishing, and kept after its rows are pruned (docs/retention.md). `next` is set when there may be more: pass it as `cursor` (with the same filters).',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            workflow: { type: 'string', minLength: 1, maxLength: 200 },
            status: { type: 'string', enum: [...FINISHED] },
            since: {
              type: 'string',
              minLength: 1,
              maxLength: 64,
              description: 'Runs archived at or after this ISO-8601 instant (with a zone)',
            },
            cursor: {
              type: 'string',
              minLength: 1,
              maxLength: 400,
              description: 'The `next` of the previous page',
            },
            limit: { type: 'string', pattern: '^[1-9][0-9]{0,2}$', description: '1–999, default 50' },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['items', 'next'],
            properties: {
              items: { type: 'array', items: { $ref: 'HistoryEntry#' } },
              next: { type: ['string', 'null'] },
            },
          },
          400: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => {
      const { limit, ...filters } = request.query;
      return listHistory(store, callerOf(request), {
        ...filters,
        ...(limit === undefined ? {} : { limit: Number(limit) }),
      });
    },
  );

  app.get<{ Params: { runId: string } }>(
    '/api/v1/history/:runId',
    {
      config: { scope: 'runs:read' },
      schema: {
        tags: ['history'],
        summary: 'One archived run with its conversation and the run as it was shown when it finished',
        params: {
          type: 'object',
          required: ['runId'],
          properties: { runId: { type: 'string', minLength: 1, maxLength: 200 } },
        },
        response: {
          200: {
            type: 'object',
            required: ['runId', 'status', 'archivedAt', 'conversation'],
            properties: {
              ...entryProperties,
              conversation: {
                type: 'array',
                description:
                  "The run's messages, oldest first (at most 500; `metrics.messages` counts them all)",
                items: { type: 'object', additionalProperties: true },
              },
              run: { anyOf: [{ $ref: 'Run#' }, { type: 'null' }] },
            },
          },
          404: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => getHistory(store, callerOf(request), request.params.runId),
  );

  userSettingRoute(app, store, {
    path: 'retention',
    column: 'retention_days',
    minimum: 0,
    maximum: 36_500,
    action: 'user.retention',
    summary: "Set (or clear, with null) how long a user's finished runs and tasks are kept",
    description:
      "Days the owner's finished runs and finished tasks of no run (and the blobs of their payloads) are kept, in place of SWARM_RETENTION_RUNS_DAYS and SWARM_RETENTION_TASKS_DAYS; 0 keeps them forever. Applied by the next retention pass (docs/retention.md).",
  });
}
