import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verifyPassword } from '../../src/auth/index.js';
import { loadConfig } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { Store } from '../../src/storage/index.js';
import { cliWithInput as cli } from '../helpers/cli.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

describe.each(DIALECTS)('swarm users and swarm db seed on %s', { timeout: 120_000 }, (dialect) => {
  let testDb: TestDatabase;
  let server: RunningServer | undefined;
  let home: string;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    home = path.join(testDb.dir, 'home');
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await testDb.drop();
  });

  async function start(): Promise<NodeJS.ProcessEnv> {
    const base = { DATABASE_URL: testDb.url, SWARM_HOME: home };
    server = await startServer(
      loadConfig({
        ...base,
        SWARM_PORT: '0',
        SWARM_LOG_LEVEL: 'silent',
        SWARM_WORKER: 'false',
        SWARM_EXAMPLES: 'false',
        SWARM_TRIGGERS: 'false',
        SWARM_ADMIN_PASSWORD: 'the admin password',
      }),
    );
    return { ...base, SWARM_URL: server.url };
  }

  async function login(email: string, password: string): Promise<Response> {
    return fetch(`${server!.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    });
  }

  it('creates, lists, shows, changes and disables users; the passwords printed sign in', async () => {
    const env = await start();
    expect(server!.bootstrapped!.password).toBeNull();
    expect((await login('admin@localhost', 'the admin password')).status).toBe(200);

    const created = await cli(['users', 'create', '--email', 'Ada@Example.com', '--name', 'Ada'], env);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^created user ada@example\.com \(member, id [0-9a-f-]{36}\)$/m);
    const password = /^ {2}(\S{20})$/m.exec(created.stdout)![1]!;
    const signedIn = await login('ada@example.com', password);
    expect(signedIn.status).toBe(200);
    expect(signedIn.headers.get('set-cookie')).toMatch(/^swarm_session=.+; HttpOnly; SameSite=Strict/);

    const viewer = await cli(
      [
        'users',
        'create',
        '--email',
        'vi@example.com',
        '--name',
        'Vi',
        '--role',
        'viewer',
        '--password-stdin',
      ],
      env,
      'a viewer password\n',
    );
    expect(viewer.code, viewer.stderr).toBe(0);
    expect(viewer.stdout).toMatch(/\(viewer, id /);
    expect(viewer.stdout).not.toMatch(/shown once/);
    expect((await login('vi@example.com', 'a viewer password')).status).toBe(200);

    const list = await cli(['users', 'list', '--json'], env);
    expect(list.code, list.stderr).toBe(0);
    const users = JSON.parse(list.stdout) as { email: string; role: string }[];
    expect(users.map((u) => [u.email, u.role])).toEqual([
      ['admin@localhost', 'admin'],
      ['ada@example.com', 'member'],
      ['vi@example.com', 'viewer'],
    ]);
    expect(list.stdout).not.toMatch(/scrypt|hash/i);
    const table = await cli(['users', 'list'], env);
    expect(table.stdout).toMatch(/^ID\s+EMAIL\s+NAME\s+ROLE\s+STATUS\s+LAST SIGNED IN$/m);

    const shown = await cli(['users', 'show', 'ada@example.com'], env);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/^role\s+member$/m);

    const promoted = await cli(['users', 'set-role', 'ada@example.com', 'admin'], env);
    expect(promoted.stdout).toBe('ada@example.com is now admin\n');
    const badRole = await cli(['users', 'set-role', 'ada@example.com', 'owner'], env);
    expect(badRole.code).toBe(1);
    expect(badRole.stderr).toMatch(/<role>: must be one of admin, member, viewer.*\[INPUT_INVALID\]/);

    const disabled = await cli(['users', 'disable', 'ada@example.com'], env);
    expect(disabled.code, disabled.stderr).toBe(0);
    expect(disabled.stdout).toMatch(/^disabled ada@example\.com \(admin, disabled, id /);
    expect((await login('ada@example.com', password)).status).toBe(401);
    expect((await cli(['users', 'enable', 'ada@example.com'], env)).code).toBe(0);
    expect((await login('ada@example.com', password)).status).toBe(200);

    const reset = await cli(['users', 'reset-password', 'ada@example.com'], env);
    expect(reset.code, reset.stderr).toBe(0);
    const fresh = /^ {2}(\S{20})$/m.exec(reset.stdout)![1]!;
    expect((await login('ada@example.com', password)).status).toBe(401);
    expect((await login('ada@example.com', fresh)).status).toBe(200);
    const chosen = await cli(
      ['users', 'reset-password', 'ada@example.com', '--password-stdin'],
      env,
      'short\n',
    );
    expect(chosen.code).toBe(1);
    expect(chosen.stderr).toMatch(/--password-stdin: the password must be 12 characters at least/);

    const duplicate = await cli(['users', 'create', '--email', 'ada@example.com', '--name', 'Again'], env);
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toMatch(/exists already \[CONFLICT\]/);
    const missing = await cli(['users', 'show', 'nobody@example.com'], env);
    expect(missing.stderr).toMatch(/\[NOT_FOUND\]/);
  });

  it('prints a generated admin password once on the first start, or takes SWARM_ADMIN_PASSWORD', async () => {
    const env = {
      DATABASE_URL: testDb.url,
      SWARM_HOME: home,
      SWARM_PORT: '0',
      SWARM_LOG_LEVEL: 'silent',
      SWARM_WORKER: 'false',
      SWARM_EXAMPLES: 'false',
      SWARM_TRIGGERS: 'false',
    };
    // The test's shutdown signal comes at once: start, print, stop.
    const first = await cli(['start'], env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^The admin's password, to sign in as admin@localhost .*also shown once:$/m);
    const password = /shown once:\n {2}(\S{20})$/m.exec(first.stdout)![1]!;
    const again = await cli(['start'], { ...env, SWARM_ADMIN_PASSWORD: 'ignored after the first start' });
    expect(again.stdout).not.toMatch(/password/);
    const store = await Store.open(testDb.url);
    try {
      const row = await store.handle.db
        .selectFrom('users')
        .select('password_hash')
        .where('email', '=', 'admin@localhost')
        .executeTakeFirstOrThrow();
      expect(row.password_hash).toMatch(/^\$scrypt\$ln=17,r=8,p=1\$/);
      expect(await verifyPassword(password, row.password_hash)).toBe(true);
      expect(await verifyPassword('ignored after the first start', row.password_hash)).toBe(false);
    } finally {
      await store.close();
    }
  });

  it('seeds the demo data only when asked, only into an empty database, and warns loudly', async () => {
    const env = { DATABASE_URL: testDb.url, SWARM_HOME: home };
    const bare = await cli(['db', 'seed'], env);
    expect(bare.code).toBe(1);
    expect(bare.stderr).toMatch(/--demo: is required/);

    const seeded = await cli(['db', 'seed', '--demo', '--json'], env);
    expect(seeded.code, seeded.stderr).toBe(0);
    expect(JSON.parse(seeded.stdout)).toMatchObject({
      user: { email: 'admin@example.com', role: 'admin' },
      workflow: 'hello@1.0.0',
      connector: 'demo-http',
    });
    expect(seeded.stderr).toMatch(/WARNING: DEMO DATA.*"password123"/);

    const again = await cli(['db', 'seed', '--demo'], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/is not empty \(it has users\).*\[CONFLICT\]/);

    const store = await Store.open(testDb.url);
    try {
      const connectors = await store.handle.db.selectFrom('connectors').select(['name', 'type']).execute();
      expect(connectors).toEqual([{ name: 'demo-http', type: 'http' }]);
    } finally {
      await store.close();
    }
    // A server started on it later signs the demo user in with the well-known password.
    await start();
    expect((await login('admin@example.com', 'password123')).status).toBe(200);
  });
});
