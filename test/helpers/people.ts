import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { bootstrapAdmin, generateApiKey, type LoginThrottleOptions } from '../../src/auth/index.js';
import { buildApp } from '../../src/server/index.js';
import type { Role, Store } from '../../src/storage/index.js';

/** Cheap scrypt parameters: what is tested is the flow, not the cost (test/auth/passwords.test.ts has that). */
export const CHEAP = { ln: 10, r: 8, p: 1 } as const;

/** A settable clock for session expiry and lockouts. */
export interface Clock {
  now: number;
  advance(ms: number): void;
}

export function clock(): Clock {
  const c = {
    now: Date.now(),
    advance(ms: number) {
      c.now += ms;
    },
  };
  return c;
}

export interface PeopleAppOptions {
  readonly clock?: Clock;
  readonly idleMinutes?: number;
  readonly maxHours?: number;
  readonly cookieSecure?: boolean;
  readonly throttle?: LoginThrottleOptions;
}

/** An app on `store` with cheap hashing, the given clock, and no API-key rate limits in the way. */
export function peopleApp(store: Store, options: PeopleAppOptions = {}): Promise<FastifyInstance> {
  const time = options.clock;
  return buildApp({
    store,
    rateLimits: false,
    sessions: {
      passwordParams: CHEAP,
      ...(time === undefined ? {} : { now: () => time.now }),
      ...(options.idleMinutes === undefined ? {} : { idleMinutes: options.idleMinutes }),
      ...(options.maxHours === undefined ? {} : { maxHours: options.maxHours }),
      ...(options.cookieSecure === undefined ? {} : { cookieSecure: options.cookieSecure }),
      ...(options.throttle === undefined ? {} : { throttle: options.throttle }),
    },
  });
}

/** The first-start admin with a known password; returns its key. */
export async function bootAdmin(store: Store, dir: string, password = 'admin password 1'): Promise<string> {
  const boot = await bootstrapAdmin(store, dir, 'http://127.0.0.1:0', {
    password: { given: password },
    passwordParams: CHEAP,
  });
  return boot!.key;
}

export const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

/** Creates a user through the API as the admin; returns it and its password. */
export async function createUser(
  app: FastifyInstance,
  adminKey: string,
  user: { email: string; name?: string; role?: Role; password?: string },
): Promise<{ id: string; email: string; role: Role; password: string }> {
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/users',
    headers: bearer(adminKey),
    payload: { name: user.name ?? user.email.split('@')[0], ...user },
  });
  expect(res.statusCode, res.body).toBe(201);
  const body = res.json();
  return { ...body.user, password: user.password ?? body.password };
}

/** An API key (scopes `*`) for a user, made in the store. */
export async function keyFor(store: Store, user: { id: string; role: Role }): Promise<string> {
  const generated = generateApiKey();
  await store
    .as({ userId: user.id, role: user.role })
    .apiKeys.create({ name: 'test', prefix: generated.prefix, hash: generated.hash, scopes: ['*'] });
  return generated.key;
}

export interface SignedIn {
  readonly res: LightMyRequestResponse;
  readonly cookie: string;
  readonly csrf: string;
  readonly sessionId: string;
}

let nextAddress = 0;

/**
 * POST /api/v1/auth/login. Each call comes from its own address unless one is given, so that the
 * per-address lockout stays out of tests about the per-account one.
 */
export async function login(
  app: FastifyInstance,
  email: string,
  password: string,
  remoteAddress = `10.0.${Math.floor(++nextAddress / 250) % 250}.${nextAddress % 250}`,
): Promise<LightMyRequestResponse> {
  return app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { email, password },
    remoteAddress,
  });
}

/** Signs in (expecting success) and returns the cookie and CSRF token. */
export async function signIn(app: FastifyInstance, email: string, password: string): Promise<SignedIn> {
  const res = await login(app, email, password);
  expect(res.statusCode, res.body).toBe(200);
  const cookie = res.cookies.find((c) => c.name === 'swarm_session');
  expect(cookie).toBeDefined();
  return { res, cookie: cookie!.value, csrf: res.json().csrfToken, sessionId: res.json().session.id };
}

/** Headers of a cookie-authenticated request, with the CSRF token when given. */
export function withCookie(session: { cookie: string }, csrf?: string): Record<string, string> {
  return {
    cookie: `swarm_session=${session.cookie}`,
    ...(csrf === undefined ? {} : { 'x-csrf-token': csrf }),
  };
}
