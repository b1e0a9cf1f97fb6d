import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { Store } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import {
  bearer,
  bootAdmin,
  createUser,
  keyFor,
  login,
  peopleApp,
  signIn,
  withCookie,
} from '../helpers/people.js';

describe.each(DIALECTS)('users API on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let app: FastifyInstance;
  let adminKey: string;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    adminKey = await bootAdmin(store, testDb.dir);
    app = await peopleApp(store);
  });
  afterEach(async () => {
    await app.close();
    await store.close();
    await testDb.drop();
  });

  const admin = (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object) =>
    app.inject({ method, url, headers: bearer(adminKey), ...(payload === undefined ? {} : { payload }) });

  it('creates a user with a generated password, shown once, that signs in', async () => {
    const res = await admin('POST', '/api/v1/users', { email: 'Ada@Example.com', name: 'Ada' });
    expect(res.statusCode).toBe(201);
    const { user, password } = res.json();
    expect(user).toMatchObject({
      email: 'ada@example.com',
      name: 'Ada',
      role: 'member',
      status: 'active',
      grants: [],
    });
    expect(password).toMatch(/^[A-Za-z0-9_-]{20}$/);
    expect(JSON.stringify(res.json())).not.toMatch(/scrypt|hash/i);
    await signIn(app, 'ada@example.com', password);
    // Never again: not in the user as read back.
    const shown = await admin('GET', `/api/v1/users/${user.id}`);
    expect(shown.json()).toEqual({ ...user, lastSignedInAt: expect.any(String) });
    expect(shown.body).not.toContain(password);
    const row = await store.handle.db
      .selectFrom('users')
      .select('password_hash')
      .where('id', '=', user.id)
      .executeTakeFirstOrThrow();
    expect(row.password_hash).toMatch(/^\$scrypt\$ln=10,r=8,p=1\$/);
  });

  it('creates a user with the password given, and does not echo it', async () => {
    const res = await admin('POST', '/api/v1/users', {
      email: 'bob@example.com',
      name: 'Bob',
      password: 'bob password 12',
    });
    expect(res.statusCode).toBe(201);
    expect(res.json().password).toBeUndefined();
    await signIn(app, 'bob@example.com', 'bob password 12');
  });

  it('stores and returns the viewer role', async () => {
    const viewer = await createUser(app, adminKey, { email: 'v@example.com', role: 'viewer' });
    expect(viewer.role).toBe('viewer');
    expect((await admin('GET', `/api/v1/users/v@example.com`)).json()).toMatchObject({ role: 'viewer' });
    const row = await store.handle.db
      .selectFrom('users')
      .select('role')
      .where('id', '=', viewer.id)
      .executeTakeFirst();
    expect(row).toEqual({ role: 'viewer' });
    const session = await signIn(app, viewer.email, viewer.password);
    const me = await app.inject({ method: 'GET', url: '/api/v1/me', headers: withCookie(session) });
    expect(me.json()).toMatchObject({ role: 'viewer' });
    // A viewer reads, and changes nothing.
    const write = await app.inject({
      method: 'POST',
      url: '/api/v1/keys',
      headers: withCookie(session, session.csrf),
      payload: { name: 'nope' },
    });
    expect(write.statusCode).toBe(403);
  });

  it('refuses a duplicate email (whatever its case) with 409 problem+json', async () => {
    await createUser(app, adminKey, { email: 'dup@example.com' });
    const res = await admin('POST', '/api/v1/users', { email: 'DUP@example.com', name: 'Again' });
    expect(res.statusCode).toBe(409);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({
      code: 'CONFLICT',
      errors: [{ field: 'body.email', message: 'is taken' }],
    });
    const taken = await admin('POST', '/api/v1/users', { email: 'admin@localhost', name: 'Second admin' });
    expect(taken.statusCode).toBe(409);
  });

  it.each([
    ['a role that does not exist', { email: 'x@example.com', name: 'X', role: 'owner' }, 'body.role'],
    ['a short password', { email: 'x@example.com', name: 'X', password: 'short' }, 'body.password'],
    ['no email', { name: 'X' }, 'body.email'],
    ['an email without @', { email: 'x.example.com', name: 'X' }, 'body.email'],
    ['a grant that cannot be granted', { email: 'x@example.com', name: 'X', grants: ['*'] }, 'body.grants.0'],
    ['an unknown field', { email: 'x@example.com', name: 'X', password_hash: 'h' }, 'body.password_hash'],
  ])('refuses %s with 400 naming the field', async (_name, payload, field) => {
    const res = await admin('POST', '/api/v1/users', payload);
    expect(res.statusCode).toBe(400);
    expect(res.json().errors.map((e: { field: string }) => e.field)).toContain(field);
  });

  it('lists, shows (by id or email) and changes users', async () => {
    const ada = await createUser(app, adminKey, { email: 'ada@example.com' });
    const list = await admin('GET', '/api/v1/users');
    expect(list.statusCode).toBe(200);
    expect(list.json().items.map((u: { email: string }) => u.email)).toEqual([
      'admin@localhost',
      'ada@example.com',
    ]);
    expect(list.body).not.toMatch(/scrypt|hash/i);
    expect((await admin('GET', `/api/v1/users/${ada.id}`)).json()).toMatchObject({
      email: 'ada@example.com',
    });
    expect((await admin('GET', '/api/v1/users/nobody@example.com')).statusCode).toBe(404);

    const changed = await admin('PATCH', `/api/v1/users/${ada.email}`, {
      name: 'Ada L.',
      role: 'admin',
      grants: ['agents:publish'],
    });
    expect(changed.statusCode).toBe(200);
    expect(changed.json()).toMatchObject({ name: 'Ada L.', role: 'admin', grants: ['agents:publish'] });
    expect((await admin('PATCH', `/api/v1/users/${ada.id}`, {})).statusCode).toBe(400);
    expect((await admin('PATCH', `/api/v1/users/${ada.id}`, { role: 'root' })).statusCode).toBe(400);
    const audit = await store.handle.db
      .selectFrom('audit_logs')
      .select(['action', 'resource_id'])
      .where('resource_type', '=', 'user')
      .orderBy('created_at')
      .execute();
    expect(audit).toEqual([
      { action: 'user.create', resource_id: ada.id },
      { action: 'user.update', resource_id: ada.id },
    ]);
  });

  it('keeps the last active admin: no demoting or disabling it', async () => {
    const me = (await store.system.findUserByEmail('admin@localhost'))!;
    const demote = await admin('PATCH', `/api/v1/users/${me.id}`, { role: 'member' });
    expect(demote.statusCode).toBe(409);
    expect(demote.json().detail).toMatch(/last active admin/);
    expect((await admin('PATCH', `/api/v1/users/${me.id}`, { status: 'disabled' })).statusCode).toBe(409);
    await createUser(app, adminKey, { email: 'second@example.com', role: 'admin' });
    expect((await admin('PATCH', `/api/v1/users/${me.id}`, { role: 'member' })).statusCode).toBe(200);
  });

  it('resets a password: the old one stops working, and so do the user’s sessions', async () => {
    const ada = await createUser(app, adminKey, { email: 'ada@example.com', password: 'first password 1' });
    const session = await signIn(app, ada.email, ada.password);
    const reset = await admin('POST', `/api/v1/users/${ada.email}/password`, {});
    expect(reset.statusCode).toBe(200);
    const { password } = reset.json();
    expect(password).toMatch(/^[A-Za-z0-9_-]{20}$/);
    expect((await login(app, ada.email, 'first password 1')).statusCode).toBe(401);
    expect(
      (await app.inject({ method: 'GET', url: '/api/v1/me', headers: withCookie(session) })).statusCode,
    ).toBe(401);
    await signIn(app, ada.email, password);
    const bodiless = await app.inject({
      method: 'POST',
      url: `/api/v1/users/${ada.id}/password`,
      headers: bearer(adminKey),
    });
    expect(bodiless.statusCode, bodiless.body).toBe(200);
    expect(bodiless.json().password).toMatch(/^[A-Za-z0-9_-]{20}$/);
    const given = await admin('POST', `/api/v1/users/${ada.id}/password`, { password: 'chosen password 1' });
    expect(given.statusCode).toBe(200);
    expect(given.json().password).toBeUndefined();
    await signIn(app, ada.email, 'chosen password 1');
    expect((await admin('POST', `/api/v1/users/${ada.id}/password`, { password: 'short' })).statusCode).toBe(
      400,
    );
    expect((await admin('POST', '/api/v1/users/nobody@example.com/password', {})).statusCode).toBe(404);
  });

  it('is for admins only: a member (key or session) and a viewer get 403', async () => {
    const member = await createUser(app, adminKey, { email: 'm@example.com', password: 'member password 1' });
    const viewer = await createUser(app, adminKey, { email: 'v@example.com', role: 'viewer' });
    const memberKey = await keyFor(store, member);
    const viewerSession = await signIn(app, viewer.email, viewer.password);
    const memberSession = await signIn(app, member.email, member.password);
    const attempts = [
      { method: 'GET', url: '/api/v1/users' },
      { method: 'GET', url: `/api/v1/users/${member.id}` },
      {
        method: 'POST',
        url: '/api/v1/users',
        payload: { email: 'new@example.com', name: 'New', role: 'admin' },
      },
      { method: 'PATCH', url: `/api/v1/users/${member.id}`, payload: { role: 'admin' } },
      { method: 'POST', url: `/api/v1/users/${member.id}/password`, payload: {} },
    ] as const;
    for (const attempt of attempts) {
      for (const headers of [
        bearer(memberKey),
        withCookie(memberSession, memberSession.csrf),
        withCookie(viewerSession, viewerSession.csrf),
      ]) {
        const res = await app.inject({ ...attempt, headers });
        expect(res.statusCode, `${attempt.method} ${attempt.url}`).toBe(403);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      }
    }
    expect((await store.system.findUserById(member.id))!.role).toBe('member');
    expect(await store.system.findUserByEmail('new@example.com')).toBeNull();
    // Without credentials: 401.
    expect((await app.inject({ method: 'GET', url: '/api/v1/users' })).statusCode).toBe(401);
  });

  it('refuses a member at the storage layer too, whatever the route says', async () => {
    const member = await createUser(app, adminKey, { email: 'm@example.com' });
    const scoped = store.as({ userId: member.id, role: 'member' });
    await expect(scoped.users.list()).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(scoped.users.update(member.id, { role: 'admin' })).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
  });

  it('shows the users routes and their scope in the OpenAPI document', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json();
    expect(doc.paths['/api/v1/users'].post['x-swarm-scope']).toBe('users:admin');
    expect(doc.paths['/api/v1/users/{id}'].patch['x-swarm-scope']).toBe('users:admin');
    expect(doc.paths['/api/v1/auth/login'].post['x-swarm-scope']).toBe('public');
    expect(doc.paths['/api/v1/auth/sessions/{id}'].delete['x-swarm-scope']).toBe('authenticated');
    expect(doc.components.schemas.User.properties.role.enum).toEqual(['admin', 'member', 'viewer']);
  });
});
