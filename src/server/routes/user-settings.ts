import type { FastifyInstance } from 'fastify';
import { recordAudit, type Store } from '../../storage/index.js';
import { callerOf } from '../auth-hook.js';

/** The per-owner numbers an admin sets on a user: each a nullable integer column of `users`. */
type UserSetting = 'max_running_tasks' | 'retention_days' | 'claim_weight';

export interface UserSettingRoute {
  /** The path's last segment: `PUT /api/v1/users/{id}/<path>`. */
  readonly path: string;
  readonly column: UserSetting;
  readonly minimum: number;
  readonly maximum: number;
  /** The audit log's action, e.g. `user.quota`. */
  readonly action: string;
  readonly summary: string;
  readonly description: string;
}

/**
 * `PUT /api/v1/users/{id}/<path>` with `{<column>: N | null}` (scope `users:admin`): sets (or
 * clears) one of a user's admin-set numbers, audited, in one transaction.
 */
export function userSettingRoute(app: FastifyInstance, store: Store, setting: UserSettingRoute): void {
  const { column } = setting;
  app.put<{ Params: { id: string }; Body: Partial<Record<UserSetting, number | null>> }>(
    `/api/v1/users/:id/${setting.path}`,
    {
      config: { scope: 'users:admin' },
      schema: {
        tags: ['users'],
        summary: setting.summary,
        description: setting.description,
        params: {
          type: 'object',
          required: ['id'],
          properties: {
            id: { type: 'string', minLength: 1, maxLength: 320, description: 'A user id or email' },
          },
        },
        body: {
          type: 'object',
          required: [column],
          additionalProperties: false,
          properties: {
            [column]: { type: ['integer', 'null'], minimum: setting.minimum, maximum: setting.maximum },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['userId', column],
            properties: { userId: { type: 'string' }, [column]: { type: ['integer', 'null'] } },
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
      const value = request.body[column] ?? null;
      const { db, dialect } = store.handle;
      await dialect.writeTransaction(db, async (trx) => {
        await trx
          .updateTable('users')
          .set({ [column]: value })
          .where('id', '=', user.id)
          .execute();
        await recordAudit(trx, {
          caller,
          action: setting.action,
          resourceType: 'user',
          resourceId: user.id,
          metadata: { [column]: value },
        });
      });
      return { userId: user.id, [column]: value };
    },
  );
}
