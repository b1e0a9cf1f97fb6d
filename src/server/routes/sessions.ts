import type { FastifyInstance } from 'fastify';
import {
  callerHas,
  csrfTokenFor,
  LoginThrottled,
  MAX_PASSWORD_LENGTH,
  SCOPES,
  type LoginService,
} from '../../auth/index.js';
import { NotFoundError } from '../../errors/index.js';
import type { Caller, Store } from '../../storage/index.js';
import { callerOf } from '../auth-hook.js';
import {
  clearSessionCookie,
  sessionCookieOf,
  setSessionCookie,
  type CookieSettings,
} from '../session-auth.js';

export const sessionSchema = {
  $id: 'Session',
  type: 'object',
  required: ['id', 'createdAt', 'lastSeenAt', 'idleExpiresAt', 'expiresAt'],
  properties: {
    id: { type: 'string' },
    userId: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    lastSeenAt: { type: 'string', format: 'date-time' },
    idleExpiresAt: {
      type: 'string',
      format: 'date-time',
      description: 'The session ends if unused until then (moved forward as it is used)',
    },
    expiresAt: { type: 'string', format: 'date-time', description: 'The session ends then, however used' },
    ipAddress: { type: ['string', 'null'] },
    userAgent: { type: ['string', 'null'] },
    revokedAt: { type: ['string', 'null'], format: 'date-time' },
    current: { type: 'boolean', description: 'The session this request came with' },
  },
} as const;

/** What a session may do: every scope its user's role and grants allow (for the dashboard's buttons). */
function sessionScopes(user: { id: string; role: Caller['role']; grants: readonly string[] }): string[] {
  const caller: Caller = { userId: user.id, role: user.role, grants: user.grants };
  return SCOPES.filter((scope) => scope !== '*' && callerHas(caller, scope));
}

const signedInSchema = {
  type: 'object',
  required: ['user', 'session', 'csrfToken', 'scopes'],
  properties: {
    scopes: {
      type: 'array',
      items: { type: 'string' },
      description: "Every scope the session may use (its user's role and grants)",
    },
    user: { $ref: 'User#' },
    session: { $ref: 'Session#' },
    csrfToken: {
      type: 'string',
      description:
        'Send it as the X-CSRF-Token header with every cookie-authenticated request that changes something',
    },
  },
} as const;

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;

/** Sign-in with email and password, the session cookie, and the caller's sessions. */
export function sessionRoutes(
  app: FastifyInstance,
  store: Store,
  login: LoginService,
  cookie: CookieSettings,
): void {
  app.addSchema(sessionSchema);

  app.post<{ Body: { email: string; password: string } }>(
    '/api/v1/auth/login',
    {
      config: { scope: 'public' },
      schema: {
        tags: ['auth'],
        summary: 'Sign in: sets the HttpOnly session cookie `swarm_session` and returns a CSRF token',
        description:
          'A wrong email and a wrong password get the same 401. Repeated failures for an account or from an address are locked out for growing times (429 with Retry-After).',
        body: {
          type: 'object',
          required: ['email', 'password'],
          additionalProperties: false,
          properties: {
            email: { type: 'string', minLength: 1, maxLength: 320 },
            password: { type: 'string', minLength: 1, maxLength: MAX_PASSWORD_LENGTH },
          },
        },
        response: {
          200: signedInSchema,
          400: { $ref: 'Problem#' },
          401: { $ref: 'Problem#' },
          429: { $ref: 'Problem#' },
        },
      },
    },
    async (request, reply) => {
      const userAgent = request.headers['user-agent'];
      try {
        const signedIn = await login.login(request.body.email, request.body.password, {
          ipAddress: request.ip,
          ...(userAgent === undefined ? {} : { userAgent }),
        });
        setSessionCookie(request, reply, cookie, signedIn.token, signedIn.session.expiresAt);
        return {
          user: signedIn.user,
          session: signedIn.session,
          csrfToken: signedIn.csrfToken,
          scopes: sessionScopes(signedIn.user),
        };
      } catch (error) {
        if (error instanceof LoginThrottled)
          void reply.header('retry-after', String(error.retryAfterSeconds));
        throw error;
      }
    },
  );

  app.post(
    '/api/v1/auth/logout',
    {
      config: { scope: 'authenticated' },
      schema: {
        tags: ['auth'],
        summary: 'Sign out: ends the session this request came with and clears its cookie',
        response: { 204: { type: 'null' }, 401: { $ref: 'Problem#' }, 403: { $ref: 'Problem#' } },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      if (caller.sessionId !== undefined) await store.as(caller).sessions.revoke(caller.sessionId);
      clearSessionCookie(request, reply, cookie);
      return reply.code(204).send();
    },
  );

  app.get(
    '/api/v1/auth/session',
    {
      config: { scope: 'authenticated' },
      schema: {
        tags: ['auth'],
        summary: 'The session this request came with, its user and its CSRF token (e.g. after a page reload)',
        response: { 200: signedInSchema, 401: { $ref: 'Problem#' }, 404: { $ref: 'Problem#' } },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const token = sessionCookieOf(request);
      if (caller.sessionId === undefined || token === undefined)
        throw new NotFoundError('session', 'this request came with an API key, not a session cookie');
      const scoped = store.as(caller);
      const [user, list] = await Promise.all([
        scoped.users.me(),
        scoped.sessions.list(new Date().toISOString()),
      ]);
      const session = list.find((s) => s.id === caller.sessionId);
      if (user === null || session === undefined) throw new NotFoundError('session', caller.sessionId);
      return {
        user,
        session: { ...session, current: true },
        csrfToken: csrfTokenFor(token),
        scopes: sessionScopes(user),
      };
    },
  );

  app.get(
    '/api/v1/auth/sessions',
    {
      config: { scope: 'authenticated' },
      schema: {
        tags: ['auth'],
        summary: "The caller's sessions that still work, newest first",
        response: {
          200: {
            type: 'object',
            required: ['items'],
            properties: { items: { type: 'array', items: { $ref: 'Session#' } } },
          },
          401: { $ref: 'Problem#' },
        },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const items = await store.as(caller).sessions.list(new Date().toISOString());
      return { items: items.map((s) => ({ ...s, current: s.id === caller.sessionId })) };
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/api/v1/auth/sessions/:id',
    {
      config: { scope: 'authenticated' },
      schema: {
        tags: ['auth'],
        summary: "Revoke one of the caller's sessions (an admin: anyone's)",
        params: idParams,
        response: { 200: { $ref: 'Session#' }, 401: { $ref: 'Problem#' }, 404: { $ref: 'Problem#' } },
      },
    },
    async (request) => store.as(callerOf(request)).sessions.revoke(request.params.id),
  );
}
