import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { hashPassword, parsePasswordHash } from '../../src/auth/index.js';
import type * as Passwords from '../../src/auth/passwords.js';
import { buildApp } from '../../src/server/index.js';
import { Store } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import {
  bearer,
  bootAdmin,
  clock,
  createUser,
  keyFor,
  login,
  peopleApp,
  signIn,
  withCookie,
  type Clock,
} from '../helpers/people.js';

const MINUTE = 60_000;

// Every verification is seen (and still made): the dummy-hash test checks which hash each
// sign-in verified, so it asserts the work done, not how long it took.
const verified = vi.hoisted(() => [] as string[]);
vi.mock('../../src/auth/passwords.js', async (importOriginal) => {
  const real = await importOriginal<typeof Passwords>();
  return {
    ...real,
    verifyPassword: (password: string, stored: string | null) => {
      if (stored !== null) verified.push(stored);
      return real.verifyPassword(password, stored);
    },
  };
});

describe.each(DIALECTS)('sessions on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let app: FastifyInstance;
  let adminKey: string;
  let time: Clock;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    adminKey = await bootAdmin(store, testDb.dir);
    time = clock();
    app = await peopleApp(store, {
      clock: time,
      idleMinutes: 30,
      maxHours: 2,
      throttle: { accountThreshold: 3, addressThreshold: 6 },
    });
  });
  afterEach(async () => {
    await app.close();
    await store.close();
    await testDb.drop();
  });

  it('signs in with email and password: an HttpOnly, SameSite=Strict cookie and a CSRF token', async () => {
    const res = await login(app, 'ADMIN@localhost', 'admin password 1');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.user).toMatchObject({ email: 'admin@localhost', role: 'admin', status: 'active' });
    expect(body.user.lastSignedInAt).toEqual(expect.any(String));
    expect(body.csrfToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(JSON.stringify(body)).not.toMatch(/scrypt|hash/i);
    const setCookie = String(res.headers['set-cookie']);
    expect(setCookie).toMatch(/^swarm_session=[A-Za-z0-9_-]{43};/);
    expect(setCookie).toMatch(/; HttpOnly/);
    expect(setCookie).toMatch(/; SameSite=Strict/);
    expect(setCookie).toMatch(/; Path=\//);
    expect(setCookie).not.toMatch(/Secure/);
    // Only the token's SHA-256 is stored.
    const rows = await store.handle.db.selectFrom('sessions').selectAll().execute();
    expect(rows).toHaveLength(1);
    const token = res.cookies[0]!.value;
    expect(JSON.stringify(rows)).not.toContain(token);
    expect(rows[0]!.token_hash).toMatch(/^[0-9a-f]{64}$/);

    const me = await app.inject({ method: 'GET', url: '/api/v1/me', headers: withCookie({ cookie: token }) });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toMatchObject({ email: 'admin@localhost' });
  });

  it('marks the cookie Secure when told to (SWARM_COOKIE_SECURE)', async () => {
    const secure = await peopleApp(store, { cookieSecure: true });
    try {
      const res = await login(secure, 'admin@localhost', 'admin password 1');
      expect(String(res.headers['set-cookie'])).toMatch(/; Secure/);
    } finally {
      await secure.close();
    }
  });

  it('answers a wrong password and an unknown email alike', async () => {
    const wrong = await login(app, 'admin@localhost', 'not the password');
    const unknown = await login(app, 'nobody@localhost', 'not the password');
    for (const res of [wrong, unknown]) {
      expect(res.statusCode).toBe(401);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.headers['set-cookie']).toBeUndefined();
    }
    expect(unknown.json()).toEqual(wrong.json());
    expect(wrong.json()).toMatchObject({ code: 'UNAUTHENTICATED', detail: 'invalid email or password' });
  });

  it('does the same work for an unknown email as for a wrong password (a dummy hash is verified)', async () => {
    const params = { ln: 14, r: 8, p: 1 };
    const admin = (await store.system.findUserByEmail('admin@localhost'))!;
    await store.system.setPasswordHash(admin.id, await hashPassword('admin password 1', params));
    const slow = await buildApp({
      store,
      rateLimits: false,
      sessions: { passwordParams: params, throttle: { accountThreshold: 1000, addressThreshold: 1000 } },
    });
    try {
      const verifiedBy = async (email: string) => {
        verified.length = 0;
        expect((await login(slow, email, 'wrong password')).statusCode).toBe(401);
        expect(verified).toHaveLength(1);
        return parsePasswordHash(verified[0]!);
      };
      const known = await verifiedBy('admin@localhost');
      const unknown = await verifiedBy('nobody@example.com');
      // Without the dummy hash an unknown email verifies nothing (no scrypt at all); with one at
      // other parameters it would cost another time. Same parameters, same key length: same work.
      expect(unknown).not.toBeNull();
      expect(unknown!.params).toEqual(known!.params);
      expect(unknown!.params).toMatchObject(params);
      expect(unknown!.key.length).toBe(known!.key.length);
      // And it is not the user's hash: nothing matches it.
      expect(unknown!.key.equals(known!.key)).toBe(false);
    } finally {
      await slow.close();
    }
  });

  it('refuses a bad body with 400 naming the field', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'a@b' } });
    expect(res.statusCode).toBe(400);
    expect(res.json().errors).toEqual([{ field: 'body.password', message: expect.any(String) }]);
  });

  it('needs the X-CSRF-Token header for cookie requests that change something', async () => {
    const session = await signIn(app, 'admin@localhost', 'admin password 1');
    const create = (headers: Record<string, string>) =>
      app.inject({ method: 'POST', url: '/api/v1/keys', headers, payload: { name: 'from the dashboard' } });
    const missing = await create(withCookie(session));
    expect(missing.statusCode).toBe(403);
    expect(missing.json()).toMatchObject({ code: 'CSRF', status: 403 });
    expect(missing.json().detail).toMatch(/X-CSRF-Token \(missing\)/);
    const wrong = await create(withCookie(session, 'x'.repeat(43)));
    expect(wrong.statusCode).toBe(403);
    expect(wrong.json().detail).toMatch(/\(wrong\)/);
    // Another session's token is wrong too.
    const other = await signIn(app, 'admin@localhost', 'admin password 1');
    expect((await create(withCookie(session, other.csrf))).statusCode).toBe(403);
    expect(await store.handle.db.selectFrom('api_keys').select('id').execute()).toHaveLength(1);

    const right = await create(withCookie(session, session.csrf));
    expect(right.statusCode).toBe(201);
    // Reading needs no token.
    const list = await app.inject({ method: 'GET', url: '/api/v1/keys', headers: withCookie(session) });
    expect(list.statusCode).toBe(200);
    // A key in the Authorization header is not cookie-authenticated: no token needed.
    const byKey = await app.inject({
      method: 'POST',
      url: '/api/v1/keys',
      headers: { ...bearer(adminKey), ...withCookie(session) },
      payload: { name: 'by key' },
    });
    expect(byKey.statusCode).toBe(201);
  });

  it('gives the CSRF token again for the current session (after a page reload)', async () => {
    const session = await signIn(app, 'admin@localhost', 'admin password 1');
    const res = await app.inject({
      method: 'GET',
      url: '/api/v1/auth/session',
      headers: withCookie(session),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      csrfToken: session.csrf,
      user: { email: 'admin@localhost' },
      session: { id: session.sessionId, current: true },
    });
    const byKey = await app.inject({ method: 'GET', url: '/api/v1/auth/session', headers: bearer(adminKey) });
    expect(byKey.statusCode).toBe(404);
  });

  it('logs out: the session ends and the cookie is cleared', async () => {
    const session = await signIn(app, 'admin@localhost', 'admin password 1');
    const noToken = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      headers: withCookie(session),
    });
    expect(noToken.statusCode).toBe(403);
    const out = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/logout',
      headers: withCookie(session, session.csrf),
    });
    expect(out.statusCode).toBe(204);
    expect(String(out.headers['set-cookie'])).toMatch(/^swarm_session=;.*Expires=Thu, 01 Jan 1970/);
    const after = await app.inject({ method: 'GET', url: '/api/v1/me', headers: withCookie(session) });
    expect(after.statusCode).toBe(401);
    expect(after.json().detail).toMatch(/session ended/);
    const unknown = await app.inject({
      method: 'GET',
      url: '/api/v1/me',
      headers: withCookie({ cookie: 'nope' }),
    });
    expect(unknown.statusCode).toBe(401);
  });

  it('lists the caller’s sessions and revokes them; others’ only for admins', async () => {
    const member = await createUser(app, adminKey, {
      email: 'member@example.com',
      password: 'member password 1',
    });
    const first = await signIn(app, 'admin@localhost', 'admin password 1');
    const second = await signIn(app, 'admin@localhost', 'admin password 1');
    const theirs = await signIn(app, member.email, member.password);

    const list = await app.inject({
      method: 'GET',
      url: '/api/v1/auth/sessions',
      headers: withCookie(first),
    });
    expect(list.statusCode).toBe(200);
    const items = list.json().items as { id: string; current: boolean }[];
    expect(items.map((s) => s.id).sort()).toEqual([first.sessionId, second.sessionId].sort());
    expect(items.find((s) => s.id === first.sessionId)!.current).toBe(true);
    expect(items.find((s) => s.id === second.sessionId)!.current).toBe(false);
    expect(JSON.stringify(items)).not.toMatch(/token|hash/i);

    // A member cannot revoke the admin's session: it is not found for them.
    const denied = await app.inject({
      method: 'DELETE',
      url: `/api/v1/auth/sessions/${second.sessionId}`,
      headers: withCookie(theirs, theirs.csrf),
    });
    expect(denied.statusCode).toBe(404);
    const revoked = await app.inject({
      method: 'DELETE',
      url: `/api/v1/auth/sessions/${second.sessionId}`,
      headers: withCookie(first, first.csrf),
    });
    expect(revoked.statusCode).toBe(200);
    expect(revoked.json()).toMatchObject({ id: second.sessionId, revokedAt: expect.any(String) });
    expect(
      (await app.inject({ method: 'GET', url: '/api/v1/me', headers: withCookie(second) })).statusCode,
    ).toBe(401);
    // An admin may revoke anyone's.
    const byAdmin = await app.inject({
      method: 'DELETE',
      url: `/api/v1/auth/sessions/${theirs.sessionId}`,
      headers: bearer(adminKey),
    });
    expect(byAdmin.statusCode).toBe(200);
    expect(
      (await app.inject({ method: 'GET', url: '/api/v1/me', headers: withCookie(theirs) })).statusCode,
    ).toBe(401);
  });

  it('ends a session left unused past the idle expiry', async () => {
    const session = await signIn(app, 'admin@localhost', 'admin password 1');
    time.advance(29 * MINUTE);
    expect(
      (await app.inject({ method: 'GET', url: '/api/v1/me', headers: withCookie(session) })).statusCode,
    ).toBe(200);
    // That use moved the idle expiry: 29 more minutes are fine.
    time.advance(29 * MINUTE);
    expect(
      (await app.inject({ method: 'GET', url: '/api/v1/me', headers: withCookie(session) })).statusCode,
    ).toBe(200);
    time.advance(31 * MINUTE);
    const res = await app.inject({ method: 'GET', url: '/api/v1/me', headers: withCookie(session) });
    expect(res.statusCode).toBe(401);
    expect(res.json().detail).toMatch(/session expired/);
  });

  it('ends a session at its absolute expiry however much it is used', async () => {
    const session = await signIn(app, 'admin@localhost', 'admin password 1');
    for (let minutes = 20; minutes <= 100; minutes += 20) {
      time.advance(20 * MINUTE);
      const res = await app.inject({ method: 'GET', url: '/api/v1/me', headers: withCookie(session) });
      expect(res.statusCode, `after ${minutes} minutes`).toBe(200);
    }
    time.advance(15 * MINUTE);
    expect(
      (await app.inject({ method: 'GET', url: '/api/v1/me', headers: withCookie(session) })).statusCode,
    ).toBe(200);
    time.advance(6 * MINUTE);
    const res = await app.inject({ method: 'GET', url: '/api/v1/me', headers: withCookie(session) });
    expect(res.statusCode).toBe(401);
    expect(res.json().detail).toMatch(/session expired/);
  });

  it('honours expiry columns set in the database (another process, a clock that moved)', async () => {
    const session = await signIn(app, 'admin@localhost', 'admin password 1');
    await store.handle.db
      .updateTable('sessions')
      .set({ expires_at: new Date(time.now - 1000).toISOString() })
      .execute();
    expect(
      (await app.inject({ method: 'GET', url: '/api/v1/me', headers: withCookie(session) })).statusCode,
    ).toBe(401);
  });

  it('writes a session’s use at most once a minute, not per request', async () => {
    const session = await signIn(app, 'admin@localhost', 'admin password 1');
    const seen = async () =>
      (await store.handle.db.selectFrom('sessions').select('last_seen_at').executeTakeFirstOrThrow())
        .last_seen_at;
    const before = await seen();
    time.advance(10_000);
    for (let i = 0; i < 5; i++)
      await app.inject({ method: 'GET', url: '/api/v1/me', headers: withCookie(session) });
    expect(await seen()).toBe(before);
    time.advance(MINUTE);
    await app.inject({ method: 'GET', url: '/api/v1/me', headers: withCookie(session) });
    expect(Date.parse(await seen())).toBe(time.now);
  });

  it('refuses a disabled user: no sign-in, and its session and keys stop working', async () => {
    const member = await createUser(app, adminKey, { email: 'm@example.com', password: 'member password 1' });
    const session = await signIn(app, member.email, member.password);
    const key = await keyFor(store, member);
    expect((await app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(key) })).statusCode).toBe(
      200,
    );

    const disabled = await app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${member.id}`,
      headers: bearer(adminKey),
      payload: { status: 'disabled' },
    });
    expect(disabled.statusCode).toBe(200);
    expect(
      (await app.inject({ method: 'GET', url: '/api/v1/me', headers: withCookie(session) })).statusCode,
    ).toBe(401);
    const byKey = await app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(key) });
    expect(byKey.statusCode).toBe(401);
    expect(byKey.json().detail).toMatch(/user disabled/);
    const refused = await login(app, member.email, member.password);
    expect(refused.statusCode).toBe(401);
    expect(refused.json().detail).toBe('invalid email or password');

    await app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${member.email}`,
      headers: bearer(adminKey),
      payload: { status: 'active' },
    });
    // Enabled again: the key works, the old session stays ended (disabling revoked it).
    expect((await app.inject({ method: 'GET', url: '/api/v1/me', headers: bearer(key) })).statusCode).toBe(
      200,
    );
    expect(
      (await app.inject({ method: 'GET', url: '/api/v1/me', headers: withCookie(session) })).statusCode,
    ).toBe(401);
    await signIn(app, member.email, member.password);
  });

  it('locks an account out for growing times after repeated failures (429 with Retry-After)', async () => {
    for (let i = 0; i < 2; i++) expect((await login(app, 'admin@localhost', 'wrong')).statusCode).toBe(401);
    // The third failure (the threshold) locks for 1 s.
    expect((await login(app, 'admin@localhost', 'wrong')).statusCode).toBe(401);
    const locked = await login(app, 'admin@localhost', 'admin password 1');
    expect(locked.statusCode).toBe(429);
    expect(locked.headers['retry-after']).toBe('1');
    expect(locked.json()).toMatchObject({ code: 'RATE_LIMITED', status: 429 });
    time.advance(1100);
    expect((await login(app, 'admin@localhost', 'wrong')).statusCode).toBe(401);
    const longer = await login(app, 'admin@localhost', 'wrong');
    expect(longer.statusCode).toBe(429);
    expect(longer.headers['retry-after']).toBe('2');
    time.advance(2100);
    expect((await login(app, 'admin@localhost', 'wrong')).statusCode).toBe(401);
    expect((await login(app, 'admin@localhost', 'wrong')).headers['retry-after']).toBe('4');
    time.advance(4100);
    // A success clears the account's count.
    await signIn(app, 'admin@localhost', 'admin password 1');
    expect((await login(app, 'admin@localhost', 'wrong')).statusCode).toBe(401);
    expect((await login(app, 'admin@localhost', 'wrong')).statusCode).toBe(401);
  });

  it('locks an unknown email out exactly like a known one', async () => {
    for (let i = 0; i < 3; i++) expect((await login(app, 'ghost@example.com', 'wrong')).statusCode).toBe(401);
    const locked = await login(app, 'ghost@example.com', 'wrong');
    expect(locked.statusCode).toBe(429);
    expect(locked.headers['retry-after']).toBe('1');
  });

  it('locks a source address out across accounts (an IPv6 address by its /64)', async () => {
    for (let i = 0; i < 6; i++)
      expect((await login(app, `user${i}@example.com`, 'wrong', '203.0.113.7')).statusCode).toBe(401);
    const locked = await login(app, 'admin@localhost', 'admin password 1', '203.0.113.7');
    expect(locked.statusCode).toBe(429);
    expect(locked.headers['retry-after']).toBe('1');
    // Another address is not locked.
    await signIn(app, 'admin@localhost', 'admin password 1');

    for (let i = 0; i < 6; i++)
      expect((await login(app, `v6user${i}@example.com`, 'wrong', `2001:db8:1:2::${i + 1}`)).statusCode).toBe(
        401,
      );
    expect((await login(app, 'admin@localhost', 'admin password 1', '2001:db8:1:2:ffff::9')).statusCode).toBe(
      429,
    );
    expect((await login(app, 'admin@localhost', 'admin password 1', '2001:db8:1:3::1')).statusCode).toBe(200);
    const rows = await store.handle.db
      .selectFrom('login_attempts')
      .select(['subject', 'failures'])
      .where('kind', '=', 'address')
      .where('failures', '>=', 6)
      .orderBy('subject')
      .execute();
    expect(rows).toEqual([
      { subject: '2001:db8:1:2::/64', failures: 6 },
      { subject: '203.0.113.7', failures: 6 },
    ]);
  });

  it('counts failures across server processes sharing the database', async () => {
    const second = await Store.open(testDb.url);
    const other = await peopleApp(second, { clock: time, throttle: { accountThreshold: 3 } });
    try {
      expect((await login(app, 'admin@localhost', 'wrong')).statusCode).toBe(401);
      expect((await login(other, 'admin@localhost', 'wrong')).statusCode).toBe(401);
      expect((await login(app, 'admin@localhost', 'wrong')).statusCode).toBe(401);
      expect((await login(other, 'admin@localhost', 'admin password 1')).statusCode).toBe(429);
    } finally {
      await other.close();
      await second.close();
    }
  });

  it('rehashes a password made with weaker parameters on the next sign-in', async () => {
    const admin = (await store.system.findUserByEmail('admin@localhost'))!;
    await store.system.setPasswordHash(
      admin.id,
      await hashPassword('admin password 1', { ln: 8, r: 8, p: 1 }),
    );
    await signIn(app, 'admin@localhost', 'admin password 1');
    const row = await store.handle.db
      .selectFrom('users')
      .select('password_hash')
      .where('id', '=', admin.id)
      .executeTakeFirstOrThrow();
    expect(parsePasswordHash(row.password_hash!)!.params).toEqual({ ln: 10, r: 8, p: 1 });
    await signIn(app, 'admin@localhost', 'admin password 1');
  });
});
