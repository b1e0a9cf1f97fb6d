import type { FastifyReply, FastifyRequest } from 'fastify';
import { CSRF_HEADER, SESSION_COOKIE, type SessionManager } from '../auth/index.js';
import type { Caller } from '../storage/index.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The session cookie's value, when the request has one and no Authorization header (a key wins). */
export function sessionCookieOf(request: FastifyRequest): string | undefined {
  if (request.headers.authorization !== undefined) return undefined;
  const value = request.cookies?.[SESSION_COOKIE];
  return value === undefined || value === '' ? undefined : value;
}

/**
 * The caller of a cookie-authenticated request: UNAUTHENTICATED (401) for a session that does
 * not work, CSRF (403) for a request that changes something without the session's
 * `X-CSRF-Token`: a page at another origin can make the browser send the cookie, not the header.
 */
export async function authenticateSession(
  request: FastifyRequest,
  sessions: SessionManager,
  token: string,
): Promise<Caller> {
  const header = request.headers[CSRF_HEADER];
  const { caller } = await sessions.authenticate(
    token,
    Array.isArray(header) ? header[0] : header,
    !SAFE_METHODS.has(request.method),
  );
  return caller;
}

export interface CookieSettings {
  /** Mark the cookie Secure whatever the request came over (SWARM_COOKIE_SECURE). */
  readonly secure: boolean;
}

/**
 * Sets the session cookie: HttpOnly (no script reads it), SameSite=Strict (no other site's page
 * sends it), Path=/, Secure when the request came over TLS or SWARM_COOKIE_SECURE says so. It
 * lives as long as the session may.
 */
export function setSessionCookie(
  request: FastifyRequest,
  reply: FastifyReply,
  settings: CookieSettings,
  token: string,
  expiresAt: string,
): void {
  void reply.setCookie(SESSION_COOKIE, token, {
    httpOnly: true,
    sameSite: 'strict',
    path: '/',
    secure: settings.secure || request.protocol === 'https',
    expires: new Date(expiresAt),
  });
}

export function clearSessionCookie(
  request: FastifyRequest,
  reply: FastifyReply,
  settings: CookieSettings,
): void {
  void reply.clearCookie(SESSION_COOKIE, {
    httpOnly: true,
    sameSite: 'strict',
    path: '/',
    secure: settings.secure || request.protocol === 'https',
  });
}
