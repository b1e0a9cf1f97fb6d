import type { FastifyInstance } from 'fastify';
import { InputError } from '../../errors/index.js';
import { agentStats, MAX_TRUST_POINTS, trustHistory } from '../../routing/index.js';
import type { Store } from '../../storage/index.js';
import { callerOf } from '../auth-hook.js';

const nullableNumber = { type: ['number', 'null'] } as const;
const nullableString = { type: ['string', 'null'] } as const;

export const agentStatsSchema = {
  $id: 'AgentStats',
  type: 'object',
  description: "One agent version's figures, kept as its attempts finish",
  required: [
    'id',
    'name',
    'version',
    'status',
    'runtimeType',
    'trustScore',
    'healthScore',
    'tasksCompleted',
    'tasksFailed',
    'successRate',
    'avgDurationMs',
    'lastSeenAt',
    'lastTaskCompletedAt',
  ],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    version: { type: 'string' },
    status: { type: 'string' },
    runtimeType: { type: 'string' },
    trustScore: { type: 'number' },
    healthScore: { type: 'number' },
    tasksCompleted: { type: 'integer' },
    tasksFailed: { type: 'integer' },
    successRate: { ...nullableNumber, description: 'Completed / finished attempts, 0–1' },
    avgDurationMs: { ...nullableNumber, description: 'Mean duration of completed attempts' },
    lastSeenAt: { ...nullableString, description: "Remote (http) agents: the last heartbeat's time" },
    lastTaskCompletedAt: nullableString,
  },
} as const;

const trustPoint = {
  type: 'object',
  required: ['at', 'version', 'eventType', 'before', 'after', 'delta', 'reason'],
  properties: {
    at: { type: 'string' },
    version: { type: 'string' },
    eventType: { type: 'string' },
    before: { type: 'number' },
    after: { type: 'number' },
    delta: { type: 'number' },
    reason: nullableString,
  },
} as const;

/**
 * Read-only agent figures for the dashboard: statistics per version and the trust score's
 * history. The caller's own agents only (builtins have none); another owner's name is a 404.
 */
export function agentStatsRoutes(app: FastifyInstance, store: Store): void {
  app.addSchema(agentStatsSchema);

  app.get<{ Querystring: { name?: string } }>(
    '/api/v1/agent-stats',
    {
      config: { scope: 'agents:read' },
      schema: {
        tags: ['agents'],
        summary:
          "Success rate, average duration, counts and last heartbeat of each of the caller's agent versions",
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { name: { type: 'string', minLength: 1, description: 'Only this agent' } },
        },
        response: {
          200: {
            type: 'object',
            required: ['items'],
            properties: { items: { type: 'array', items: { $ref: 'AgentStats#' } } },
          },
          400: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => ({ items: await agentStats(store, callerOf(request), request.query.name) }),
  );

  app.get<{ Params: { name: string }; Querystring: { limit?: string } }>(
    '/api/v1/agents/:name/trust-history',
    {
      config: { scope: 'agents:read' },
      schema: {
        tags: ['agents'],
        summary: "An agent's latest trust score changes (every version), oldest first, from trust_records",
        params: {
          type: 'object',
          required: ['name'],
          properties: { name: { type: 'string', minLength: 1 } },
        },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit: { type: 'string', description: `1–${MAX_TRUST_POINTS}, default 200` } },
        },
        response: {
          200: {
            type: 'object',
            required: ['items'],
            properties: { items: { type: 'array', items: trustPoint } },
          },
          400: { $ref: 'Problem#' },
          404: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => {
      const raw = request.query.limit;
      // A string, as the app does not coerce query types; checked here so the 400 names it.
      if (raw !== undefined && (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > MAX_TRUST_POINTS))
        throw new InputError('limit', `must be an integer from 1 to ${MAX_TRUST_POINTS}`);
      const limit = raw === undefined ? 200 : Number(raw);
      return { items: await trustHistory(store, callerOf(request), request.params.name, limit) };
    },
  );
}
