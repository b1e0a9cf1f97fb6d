import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

// The built CLI, as `./swarm` runs it (`npm test` builds dist/ first).
const MAIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli/main.js');

// A module hook that appends every module the process loads (its URL) to the file in SWARM_TEST_LOADED.
const RECORDER = `data:text/javascript,${encodeURIComponent(`
import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(\`
  import { appendFileSync } from 'node:fs';
  export async function load(url, context, next) {
    appendFileSync(process.env.SWARM_TEST_LOADED, url + '\\\\n');
    return next(url, context);
  }\`));
`)}`;

/** What the database layer, mail, the runtimes and the server are made of. */
const HEAVY = [
  /\/node_modules\/(kysely|better-sqlite3|pg|nodemailer|fastify)\//,
  /\/dist\/(storage|registry|runtimes|server|engine|queue|connectors|templates)\//,
];

async function loadedBy(args: string[]): Promise<{ stdout: string; loaded: string[] }> {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-startup-')), 'loaded.txt');
  try {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', RECORDER, MAIN, ...args], {
      env: { PATH: process.env.PATH, SWARM_TEST_LOADED: file },
    });
    return { stdout, loaded: fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) };
  } finally {
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }
}

describe('CLI start-up', () => {
  it.each(['--version', '--help', 'task submit --help', 'db copy --help', 'connectors --help'])(
    '`swarm %s` loads neither the database layer nor the runtimes, mail or the server',
    async (command) => {
      const { stdout, loaded } = await loadedBy(command.split(' '));
      expect(stdout.length).toBeGreaterThan(0);
      expect(loaded.some((url) => url.endsWith('/dist/cli/main.js'))).toBe(true);
      expect(loaded.filter((url) => HEAVY.some((heavy) => heavy.test(url)))).toEqual([]);
    },
  );

  it('loads a heavy part when one of its commands runs, and its help lists what that part knows', async () => {
    const alerts = await loadedBy(['alerts', 'list', '--help']);
    expect(alerts.stdout).toMatch(/only this type: agent_failure, task_timeout/);
    expect(alerts.loaded.some((url) => url.includes('/dist/storage/'))).toBe(true);
    const connectors = await loadedBy(['connectors', 'add', '--help']);
    expect(connectors.stdout).toMatch(/--type <type> +one of http, smtp/);
  });
});
