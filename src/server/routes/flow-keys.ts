import type { FastifyInstance } from 'fastify';
import { listFlowKeys, MAX_LISTED_KEYS } from '../../queue/index.js';
import type { Store } from '../../storage/index.js';
import { callerOf } from '../auth-hook.js';
import { userSettingRoute } from './user-settings.js';

const nullableInteger = { type: ['integer', 'null'] } as const;

export const flowKeysSchema = {
  $id: 'FlowKeys',
  type: 'object',
  required: ['keys', 'truncated'],
  properties: {
    keys: {
      type: 'array',
      items: {
        type: 'object',
        required: ['key', 'kind', 'scope', 'ownerId', 'namespace', 'value', 'running', 'waiting'],
        properties: {
          key: { type: 'string', description: 'The stored key (a JSON array of its parts)' },
          kind: { type: 'string', enum: ['concurrency', 'rate'] },
          scope: { type: 'string', enum: ['step', 'workflow', 'agent', 'owner'] },
          ownerId: { type: 'string' },
          namespace: { type: 'array', items: { type: 'string' }, description: 'workflow and step, or agent' },
          value: { type: 'string', description: "What the key expression gave ('' for the scope's one key)" },
          limit: { ...nullableInteger, description: 'Most tasks running at once (concurrency keys)' },
          rateLimit: { ...nullableInteger, description: 'Most starts per period (rate keys)' },
          periodMs: nullableInteger,
          running: { type: 'integer', description: 'Tasks holding a slot now' },
          recentStarts: { type: 'integer', description: 'Starts within the current period (rate keys)' },
          waiting: { type: 'integer', description: 'Tasks parked under the key, waiting for room' },
        },
      },
    },
    truncated: { type: 'boolean', description: `More than ${MAX_LISTED_KEYS} keys: the rest are not listed` },
  },
} as const;

/** Flow control (docs/flow-control.md): the keys and the owner quota. */
export function flowKeyRoutes(app: FastifyInstance, store: Store): void {
  app.addSchema(flowKeysSchema);
  app.get(
    '/api/v1/queue/keys',
    {
      config: { scope: 'tasks:read' },
      schema: {
        tags: ['tasks'],
        summary: 'Flow-control keys: limits, running, waiting (parked) and rate windows',
        description: "The caller's keys; an admin sees every owner's.",
        response: { 200: { $ref: 'FlowKeys#' }, 401: { $ref: 'Problem#' } },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      return listFlowKeys(store.handle.db, caller.role === 'admin' ? null : caller.userId);
    },
  );

  userSettingRoute(app, store, {
    path: 'quota',
    column: 'max_running_tasks',
    minimum: 1,
    maximum: 1_000_000,
    action: 'user.quota',
    summary: "Set (or clear, with null) a user's quota: most of its tasks running at once",
    description: 'Applies to tasks enqueued from now on; tasks already queued keep the limits they had.',
  });
  userSettingRoute(app, store, {
    path: 'weight',
    column: 'claim_weight',
    minimum: 1,
    maximum: 1000,
    action: 'user.weight',
    summary: "Set (or clear, with null: 1) a user's weight in fair claims",
    description:
      "When several owners have ready work, each claim's shares are in proportion to their weights (docs/flow-control.md). Applied within a second.",
  });
}
