import path from 'node:path';
import { InputError } from '../errors/index.js';

/** Everything Swarm reads from its environment, validated once and frozen. */
export interface Config {
  /** Folder for the SQLite file, credentials and generated keys. @default ./.swarm */
  readonly home: string;
  /** `postgres://…` for PostgreSQL, otherwise a SQLite URL or path. @default sqlite file in `home` */
  readonly databaseUrl: string;
  /** @default 7373 */
  readonly port: number;
  /** @default 127.0.0.1 */
  readonly host: string;
  /** pino level. @default info */
  readonly logLevel: string;
  /** Base URL the CLI talks to. @default http://127.0.0.1:<port> */
  readonly serverUrl: string;
  /** API key for the CLI; otherwise read from `home`/credentials. */
  readonly apiKey: string | undefined;
  /** Register the example agents and workflows on a store's first start. @default true */
  readonly examples: boolean;
  /** Run a worker inside `swarm start`. @default true */
  readonly worker: boolean;
  /** Tasks a worker runs at once. @default 16 */
  readonly workerConcurrency: number;
  /** How long a claimed task's lease lasts without a heartbeat. @default 30000 */
  readonly leaseMs: number;
  /** Let builtin/http_request reach private, loopback and link-local addresses. @default false */
  readonly allowPrivateNetworks: boolean;
}

const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** Reads the configuration from `env` (injectable for tests). Throws an InputError naming the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): Config {
  const home = path.resolve(cwd, nonEmpty(env.SWARM_HOME) ?? '.swarm');
  const port = parsePort(env.SWARM_PORT);
  const host = nonEmpty(env.SWARM_HOST) ?? '127.0.0.1';
  const logLevel = nonEmpty(env.SWARM_LOG_LEVEL) ?? 'info';
  if (!LOG_LEVELS.has(logLevel)) {
    throw new InputError(
      'SWARM_LOG_LEVEL',
      `must be one of ${[...LOG_LEVELS].join(', ')}, got "${logLevel}"`,
    );
  }
  const serverUrl = (nonEmpty(env.SWARM_URL) ?? `http://127.0.0.1:${port}`).replace(/\/+$/, '');
  try {
    new URL(serverUrl);
  } catch {
    throw new InputError('SWARM_URL', `not a URL: "${serverUrl}"`);
  }
  return Object.freeze({
    home,
    databaseUrl: nonEmpty(env.DATABASE_URL) ?? `sqlite:${path.join(home, 'swarm.db')}`,
    port,
    host,
    logLevel,
    serverUrl,
    apiKey: nonEmpty(env.SWARM_API_KEY),
    examples: parseBoolean('SWARM_EXAMPLES', env.SWARM_EXAMPLES, true),
    worker: parseBoolean('SWARM_WORKER', env.SWARM_WORKER, true),
    workerConcurrency: parseInteger('SWARM_WORKER_CONCURRENCY', env.SWARM_WORKER_CONCURRENCY, 16, 1, 1024),
    leaseMs: parseInteger('SWARM_LEASE_MS', env.SWARM_LEASE_MS, 30_000, 100, 3_600_000),
    allowPrivateNetworks: parseBoolean(
      'SWARM_ALLOW_PRIVATE_NETWORKS',
      env.SWARM_ALLOW_PRIVATE_NETWORKS,
      false,
    ),
  });
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function parseBoolean(name: string, raw: string | undefined, fallback: boolean): boolean {
  const value = nonEmpty(raw)?.toLowerCase();
  if (value === undefined) return fallback;
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  if (['0', 'false', 'no', 'off'].includes(value)) return false;
  throw new InputError(name, `must be true or false, got "${raw}"`);
}

function parseInteger(
  name: string,
  raw: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (nonEmpty(raw) === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new InputError(name, `must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

function parsePort(raw: string | undefined): number {
  if (nonEmpty(raw) === undefined) return 7373;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InputError('SWARM_PORT', `must be an integer from 0 to 65535, got "${raw}"`);
  }
  return port;
}
