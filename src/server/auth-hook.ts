import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Authenticator, SessionManager } from '../auth/index.js';
import { SwarmError } from '../errors/index.js';
import type { Caller, Store } from '../storage/index.js';
import { actAsOwner } from './acting-owner.js';
import { requireScope, routeScopeOf } from './route-scope.js';
import { authenticateSession, sessionCookieOf } from './session-auth.js';

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller | null;
  }
}

/**
 * A route says whether it needs credentials by its declared scope (src/server/route-scope.ts):
 * `public` ones (the OpenAPI document, the signing key, /healthz, /hooks/*) do not. A request no
 * route matched needs them under /api/v1, so a 404 tells no one without a key which paths exist.
 */
function requiresAuth(request: FastifyRequest): boolean {
  const scope = routeScopeOf(request);
  if (scope !== undefined) return scope !== 'public';
  const path = request.url.split('?')[0] ?? request.url;
  return path === '/api/v1' || path.startsWith('/api/v1/');
}

/**
 * Every non-public route needs `Authorization: Bearer <key>`; the caller is set on the request,
 * an admin's `X-Swarm-Owner` makes it act for that owner (src/server/acting-owner.ts); then
 * the route's declared scope is checked (403 INSUFFICIENT_SCOPE).
 */
export function registerAuth(
  app: FastifyInstance,
  authenticator: Authenticator,
  store: Store,
  sessions?: SessionManager,
): void {
  app.decorateRequest('caller', null);
  app.addHook('onRequest', async (request) => {
    if (!requiresAuth(request)) return;
    // Without an Authorization header, the dashboard's session cookie (CSRF-checked) may sign in.
    const cookie = sessions === undefined ? undefined : sessionCookieOf(request);
    request.caller =
      cookie !== undefined
        ? await authenticateSession(request, sessions!, cookie)
        : await authenticator.authenticate(request.headers.authorization, {
            ipAddress: request.ip,
            ...(request.headers['user-agent'] === undefined
              ? {}
              : { userAgent: request.headers['user-agent'] }),
          });
    request.caller = await actAsOwner(request, request.caller, store);
    requireScope(request);
  });
}

export function callerOf(request: FastifyRequest): Caller {
  if (request.caller === null) throw new SwarmError('UNAUTHENTICATED', 'no caller on this request');
  // The audit log's source address and user agent, whichever way the caller authenticated.
  if (request.caller.ipAddress === undefined) {
    const userAgent = request.headers['user-agent'];
    request.caller = {
      ...request.caller,
      ipAddress: request.ip,
      ...(userAgent === undefined ? {} : { userAgent }),
    };
  }
  return request.caller;
}
