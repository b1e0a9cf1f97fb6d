// A Swarm server of the fuzzer's own: `swarm start` from the built dist/, on 127.0.0.1 and a free
// port, with a fresh SWARM_HOME and a fresh database (a SQLite file, or a new PostgreSQL
// database dropped afterwards). Its log is kept, so the errors behind a 5xx can be shown.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { DEAD_URL } from './corpus.mjs';

/**
 * @typedef {object} SwarmServer
 * @property {string} url
 * @property {string} apiKey    the admin key printed on first start
 * @property {string} dir       the scratch folder (SWARM_HOME, the SQLite file, server.log)
 * @property {string} logFile
 * @property {() => boolean} alive
 * @property {() => { msg: string, error: string }[]} loggedErrors  error-level lines of its log
 * @property {(options?: { keep?: boolean }) => Promise<void>} stop  stops it; drops what it made unless keep
 */

/**
 * @param {{ database: 'sqlite' | 'postgres', dist: string, pgUrl?: string, databaseUrl?: string }} options
 *   databaseUrl: an empty database to use (the caller drops it); otherwise one is made
 * @returns {Promise<SwarmServer>}
 */
export async function startSwarm(options) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-fuzz-'));
  fs.chmodSync(dir, 0o700);
  let databaseUrl = options.databaseUrl;
  /** @type {string | null} */
  let madeDatabase = null;
  if (databaseUrl === undefined && options.database === 'sqlite')
    databaseUrl = `sqlite:${path.join(dir, 'swarm.db')}`;
  if (databaseUrl === undefined) {
    const admin = options.pgUrl ?? 'postgres://postgres@127.0.0.1:5432/test';
    madeDatabase = `swarm_fuzz_${randomBytes(4).toString('hex')}`;
    await adminQuery(admin, `CREATE DATABASE ${madeDatabase}`);
    const url = new URL(admin);
    url.pathname = `/${madeDatabase}`;
    databaseUrl = url.toString();
  }
  const logFile = path.join(dir, 'server.log');
  const log = fs.openSync(logFile, 'a', 0o600);
  // Only what the server needs: no SWARM_* of the caller's leaks in (SWARM_URL, a key, a port).
  const env = {
    PATH: process.env.PATH ?? '',
    ...(process.env.TMPDIR === undefined ? {} : { TMPDIR: process.env.TMPDIR }),
    DATABASE_URL: databaseUrl,
    SWARM_HOME: path.join(dir, 'home'),
    SWARM_HOST: '127.0.0.1',
    SWARM_PORT: '0',
    SWARM_LOG_LEVEL: 'warn',
    SWARM_MASTER_KEY: randomBytes(32).toString('base64'),
    // LLM providers may be given the fuzzer's dead URL (127.0.0.1:9), so creating one succeeds
    // without a public default URL in its place.
    SWARM_LLM_ALLOWED_URLS: new URL(DEAD_URL).origin,
  };
  const child = spawn(process.execPath, [path.join(options.dist, 'cli', 'main.js'), 'start'], {
    env,
    stdio: ['ignore', 'pipe', log],
  });
  let out = '';
  const started = new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`swarm start did not print its URL and key in 60 s:\n${out}`)),
      60_000,
    );
    child.stdout.on('data', (chunk) => {
      out += chunk;
      fs.appendFileSync(logFile, chunk);
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
      const key = /^\s+(swarm_[A-Za-z0-9_-]+)\s*$/m.exec(out)?.[1] ?? keyFromHome(env.SWARM_HOME);
      // The server prints its URL once it has migrated, made its admin and registered the examples.
      if (url !== undefined && key !== null) {
        clearTimeout(timer);
        resolve({ url, key });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`swarm start exited with ${code}:\n${out}\n${fs.readFileSync(logFile, 'utf8')}`));
    });
  });
  /** @type {{ url: string, key: string }} */
  let info;
  try {
    info = /** @type {{ url: string, key: string }} */ (await started);
    // The fuzzer sends far more than a default key's 60 requests a minute; refused with 429 they
    // would reach no route. Rate limits have tests of their own (test/server/rate-limits.test.ts).
    const { Store } = await import(pathToFileURL(path.join(options.dist, 'storage', 'index.js')).href);
    const store = await Store.open(databaseUrl, { migrate: false, poolSize: 1 });
    try {
      await store.handle.db
        .updateTable('api_keys')
        .set({ rate_limit_per_minute: 1_000_000_000, rate_limit_per_hour: 1_000_000_000 })
        .execute();
    } finally {
      await store.close();
    }
  } catch (error) {
    child.kill('SIGKILL');
    if (madeDatabase !== null)
      await adminQuery(options.pgUrl ?? '', `DROP DATABASE IF EXISTS ${madeDatabase} WITH (FORCE)`);
    throw error;
  }
  return {
    url: info.url,
    apiKey: info.key,
    dir,
    logFile,
    alive: () => child.exitCode === null && child.signalCode === null,
    loggedErrors: () => loggedErrors(logFile),
    async stop({ keep = false } = {}) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
      fs.closeSync(log);
      if (keep) return;
      if (madeDatabase !== null)
        await adminQuery(
          options.pgUrl ?? 'postgres://postgres@127.0.0.1:5432/test',
          `DROP DATABASE IF EXISTS ${madeDatabase} WITH (FORCE)`,
        );
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The key in the credentials the server saved, when its output did not show it. @param {string} home */
function keyFromHome(home) {
  try {
    for (const name of fs.readdirSync(home))
      if (name.startsWith('credentials')) {
        const match = /"(swarm_[A-Za-z0-9_-]+)"/.exec(fs.readFileSync(path.join(home, name), 'utf8'));
        if (match?.[1]) return match[1];
      }
  } catch {
    // Not written yet.
  }
  return null;
}

/**
 * The error-level lines of a pino log: message, and the error's message and first frames.
 * @param {string} file
 */
export function loggedErrors(file) {
  /** @type {{ msg: string, error: string }[]} */
  const out = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line);
      if (entry.level < 50) continue;
      const stack = String(entry.err?.stack ?? entry.err?.message ?? '')
        .split('\n')
        .slice(0, 4)
        .join(' | ');
      out.push({ msg: String(entry.msg ?? ''), error: stack });
    } catch {
      // A line that is not JSON (startup output): not a logged error.
    }
  }
  return out;
}

/** @param {string} url @param {string} text */
async function adminQuery(url, text) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}
