import type { FastifyInstance } from 'fastify';
import { listFlowKeys, MAX_LISTED_KEYS } from '../../queue/index.js';
import { recordAudit, type Store } from '../../storage/index.js';
import { callerOf } from '../auth-hook.js';

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

  app.put<{ Params: { id: string }; Body: { max_running_tasks: number | null } }>(
    '/api/v1/users/:id/quota',
    {
      config: { scope: 'users:admin' },
      schema: {
        tags: ['users'],
        summary: "Set (or clear, with null) a user's quota: most of its tasks running at once",
        description: 'Applies to tasks enqueued from now on; tasks already queued keep the limits they had.',
        params: {
          type: 'object',
          required: ['id'],
          properties: {
            id: { type: 'string', minLength: 1, maxLength: 320, description: 'A user id or email' },
          },
        },
        body: {
          type: 'object',
          required: ['max_running_tasks'],
          additionalProperties: false,
          properties: { max_running_tasks: { type: ['integer', 'null'], minimum: 1, maximum: 1_000_000 } },
        },
        response: {
          200: {
            type: 'object',
            required: ['userId', 'max_running_tasks'],
            properties: { userId: { type: 'string' }, max_running_tasks: nullableInteger },
          },
          400: { $ref: 'Problem#' },
          401: { $ref: 'Problem#' },
          403: { $ref: 'Problem#' },
          404: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const user = await store.as(caller).users.find(request.params.id);
      const quota = request.body.max_running_tasks;
      const { db, dialect } = store.handle;
      await dialect.writeTransaction(db, async (trx) => {
        await trx.updateTable('users').set({ max_running_tasks: quota }).where('id', '=', user.id).execute();
        await recordAudit(trx, {
          caller,
          action: 'user.quota',
          resourceType: 'user',
          resourceId: user.id,
          metadata: { max_running_tasks: quota },
        });
      });
      return { userId: user.id, max_running_tasks: quota };
    },
  );
}
