import type { FastifyInstance } from 'fastify';
import { METRICS_CONTENT_TYPE, overview, scrapeMetrics } from '../../metrics/index.js';
import type { Store } from '../../storage/index.js';
import { callerOf } from '../auth-hook.js';

const figures = {
  runsStarted: { type: 'integer' },
  runsCompleted: { type: 'integer' },
  runsFailed: { type: 'integer', description: 'Ended failed or timed out' },
  runsCancelled: { type: 'integer' },
  successRate: {
    type: ['number', 'null'],
    description: 'completed ÷ (completed + failed) of the runs that ended',
  },
  durationP50Ms: { type: ['number', 'null'] },
  durationP95Ms: { type: ['number', 'null'] },
  steps: { type: 'integer', description: 'Step attempts of runs that ended' },
  inputTokens: { type: 'number' },
  outputTokens: { type: 'number' },
  tokens: { type: 'number' },
  cost: { type: 'number' },
} as const;

const overviewResponse = {
  type: 'object',
  required: [
    'since',
    'until',
    'bucketSeconds',
    'buckets',
    'totals',
    'queueDepth',
    'activeWorkers',
    'truncated',
  ],
  properties: {
    since: { type: 'string' },
    until: { type: 'string' },
    bucketSeconds: { type: 'integer' },
    buckets: {
      type: 'array',
      items: {
        type: 'object',
        required: ['start', ...Object.keys(figures), 'stepsPerMinute'],
        properties: { start: { type: 'string' }, ...figures, stepsPerMinute: { type: 'number' } },
      },
    },
    totals: { type: 'object', required: Object.keys(figures), properties: figures },
    queueDepth: {
      type: 'array',
      description: "The caller's tasks on the queue now, by status and priority",
      items: {
        type: 'object',
        required: ['status', 'priority', 'count'],
        properties: { status: { type: 'string' }, priority: { type: 'integer' }, count: { type: 'integer' } },
      },
    },
    activeWorkers: {
      type: 'integer',
      description: "Workers holding a live lease on one of the caller's tasks",
    },
    truncated: { type: 'boolean', description: 'A source had more rows in the range than were read' },
  },
} as const;

/**
 * `GET /metrics` (Prometheus text; admins, scope `metrics:read`) unless turned off
 * (SWARM_METRICS=false), and `GET /api/v1/metrics/overview` (the dashboard's Overview: the
 * caller's own figures, scope `runs:read`).
 */
export function metricsRoutes(app: FastifyInstance, store: Store, options: { prometheus: boolean }): void {
  if (options.prometheus)
    app.get(
      '/metrics',
      {
        config: { scope: 'metrics:read' },
        schema: {
          tags: ['system'],
          summary:
            'Prometheus metrics (text exposition format): queue, workers, runs, tasks, LLM usage, HTTP',
          response: {
            200: {
              description: 'Prometheus text format 0.0.4',
              content: { 'text/plain': { schema: { type: 'string' } } },
            },
            403: { $ref: 'Problem#' },
          },
        },
      },
      async (_request, reply) => reply.type(METRICS_CONTENT_TYPE).send(await scrapeMetrics(store)),
    );

  app.get<{ Querystring: { since?: string; bucket?: string } }>(
    '/api/v1/metrics/overview',
    {
      config: { scope: 'runs:read' },
      schema: {
        tags: ['runs'],
        summary: "The caller's runs, steps, tokens and cost over time, and the queue and workers now",
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            since: {
              type: 'string',
              minLength: 1,
              maxLength: 40,
              description:
                'An ISO timestamp, or a span back from now: `90m`, `1h`, `24h`, `7d` (at most 31 days). Default 1h',
            },
            bucket: {
              type: 'string',
              pattern: '^[1-9][0-9]{0,6}$',
              description:
                'Bucket width in seconds (at most 500 buckets). Default: about 60 buckets over the range',
            },
          },
        },
        response: { 200: overviewResponse, 400: { $ref: 'Problem#' } },
      },
    },
    async (request) =>
      overview(store.handle.db, callerOf(request), {
        ...(request.query.since === undefined ? {} : { since: request.query.since }),
        ...(request.query.bucket === undefined ? {} : { bucket: Number(request.query.bucket) }),
      }),
  );
}
