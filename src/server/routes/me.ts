import type { FastifyInstance } from 'fastify';
import { NotFoundError } from '../../errors/index.js';
import type { Store } from '../../storage/index.js';
import { callerOf } from '../auth-hook.js';

export const userSchema = {
  $id: 'User',
  type: 'object',
  required: ['id', 'name', 'email', 'role', 'status', 'createdAt'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    email: { type: 'string' },
    role: { type: 'string', enum: ['admin', 'member', 'viewer'] },
    status: { type: 'string', enum: ['active', 'disabled'] },
    grants: {
      type: 'array',
      items: { type: 'string' },
      description: "Scopes an admin granted beyond the role's (agents:publish)",
    },
    lastSignedInAt: { type: ['string', 'null'], format: 'date-time' },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
} as const;

export function meRoutes(app: FastifyInstance, store: Store): void {
  app.get(
    '/api/v1/me',
    {
      config: { scope: 'authenticated' },
      schema: {
        tags: ['auth'],
        summary: 'The user the API key belongs to',
        response: { 200: { $ref: 'User#' }, 401: { $ref: 'Problem#' } },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const user = await store.as(caller).users.me();
      if (user === null) throw new NotFoundError('user', caller.userId);
      return user;
    },
  );
}
