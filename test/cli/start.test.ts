import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli/main.js');

/** Reads the child's stdout until `pattern` matches, or fails with what it printed. */
function waitFor(
  child: ChildProcess,
  output: { text: string },
  pattern: RegExp,
  ms = 20_000,
): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`timed out waiting for ${pattern}; got:\n${output.text}`)),
      ms,
    );
    const check = () => {
      const match = output.text.match(pattern);
      if (match) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        resolve(match);
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) =>
      reject(new Error(`exited with ${code} before ${pattern}; got:\n${output.text}`)),
    );
    check();
  });
}

// The real binary, as `npm start` runs it (npm test builds dist/ first).
describe.each(DIALECTS)('swarm start (built CLI) on %s', (dialect) => {
  let testDb: TestDatabase;
  let child: ChildProcess | undefined;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
  });
  afterEach(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await testDb.drop();
  });

  function start(): { child: ChildProcess; output: { text: string } } {
    const output = { text: '' };
    const env = {
      PATH: process.env.PATH,
      SWARM_HOME: path.join(testDb.dir, 'home'),
      SWARM_PORT: '0',
      SWARM_LOG_LEVEL: 'warn',
      DATABASE_URL: testDb.url,
    };
    child = spawn(process.execPath, [MAIN, 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
    return { child, output };
  }

  it('prints the URL and the admin key once, serves the API, and shuts down gracefully', async () => {
    expect(fs.existsSync(MAIN), 'dist/ is built by `npm test`').toBe(true);
    const first = start();
    const [, url] = await waitFor(first.child, first.output, /listening on (http:\/\/[^\s]+)/);
    const [, key] = await waitFor(first.child, first.output, /^\s+(swarm_\S+)$/m);
    const credentials = path.join(testDb.dir, 'home', 'credentials');
    expect(fs.statSync(credentials).mode & 0o777).toBe(0o600);

    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', database: dialect });
    expect((await fetch(`${url}/api/v1/openapi.json`)).status).toBe(200);
    const denied = await fetch(`${url}/api/v1/me`);
    expect(denied.status).toBe(401);
    expect(denied.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const me = await fetch(`${url}/api/v1/me`, { headers: { authorization: `Bearer ${key}` } });
    expect(me.status).toBe(200);

    first.child.kill('SIGTERM');
    const code = await new Promise((resolve) => first.child.once('exit', resolve));
    expect(code).toBe(0);
    expect(first.output.text).toContain('SIGTERM: shutting down');

    // A second start on the same store prints no new key.
    const second = start();
    await waitFor(second.child, second.output, /listening on/);
    expect(second.output.text).not.toMatch(/^\s+swarm_\S+$/m);
    second.child.kill('SIGTERM');
    expect(await new Promise((resolve) => second.child.once('exit', resolve))).toBe(0);
  });
});
