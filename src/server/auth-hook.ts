import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Authenticator } from '../auth/index.js';
import { SwarmError } from '../errors/index.js';
import type { Caller } from '../storage/index.js';

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller | null;
  }
}

/**
 * Public under /api/v1: the API's own description, which tools fetch before they have a key, and
 * Swarm's public signing key, which remote agents verify tasks with.
 */
const PUBLIC_API_PATHS = new Set(['/api/v1/openapi.json', '/api/v1/signing-key']);

function requiresAuth(url: string): boolean {
  const path = url.split('?')[0] ?? url;
  return (path === '/api/v1' || path.startsWith('/api/v1/')) && !PUBLIC_API_PATHS.has(path);
}

/** Every /api/v1 route needs `Authorization: Bearer <key>`; the caller is set on the request. */
export function registerAuth(app: FastifyInstance, authenticator: Authenticator): void {
  app.decorateRequest('caller', null);
  app.addHook('onRequest', async (request) => {
    if (!requiresAuth(request.url)) return;
    request.caller = await authenticator.authenticate(request.headers.authorization, {
      ipAddress: request.ip,
      ...(request.headers['user-agent'] === undefined ? {} : { userAgent: request.headers['user-agent'] }),
    });
  });
}

export function callerOf(request: FastifyRequest): Caller {
  if (request.caller === null) throw new SwarmError('UNAUTHENTICATED', 'no caller on this request');
  return request.caller;
}
