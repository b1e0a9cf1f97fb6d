import { createPrivateKey } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError } from '../errors/index.js';
import { DEFAULT_EXPRESSION_LIMITS, type ExpressionLimits } from '../expressions/index.js';

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
  /**
   * The server's and workers' console log, from `SWARM_LOG_FORMAT`: `json` lines, `pretty`
   * short lines, or `auto` (pretty on a terminal, JSON otherwise). @default auto
   */
  readonly logFormat: 'auto' | 'json' | 'pretty';
  /** Base URL the CLI talks to. @default http://127.0.0.1:<port> */
  readonly serverUrl: string;
  /**
   * What gave `serverUrl`. When neither SWARM_URL nor SWARM_PORT did (`default`), the CLI uses
   * the URL saved with its credential: where that database's server last listened.
   */
  readonly serverUrlFrom: 'SWARM_URL' | 'SWARM_PORT' | 'default';
  /**
   * Where people reach this Swarm from outside, from `SWARM_PUBLIC_URL`: the origin of signed
   * approval links (docs/waiting.md). Unset: where the server listens (or, for a link made
   * through the API, where its caller reached it).
   */
  readonly publicUrl: string | undefined;
  /** The saved credential the CLI uses, by name, database or server URL (`SWARM_CREDENTIAL`, `--credential`). */
  readonly credential: string | undefined;
  /** API key for the CLI; otherwise read from `home`/credentials. */
  readonly apiKey: string | undefined;
  /** SWARM_OWNER: the CLI of an admin acts for this user (id or email) through `X-Swarm-Owner`. */
  readonly owner: string | undefined;
  /** Register the example agents and workflows on a store's first start. @default true */
  readonly examples: boolean;
  /** Run a worker inside `swarm start`. @default true */
  readonly worker: boolean;
  /** Tasks a worker runs at once. @default 16 */
  readonly workerConcurrency: number;
  /** How long a claimed task's lease lasts without a heartbeat. @default 30000 */
  readonly leaseMs: number;
  /**
   * Times a task's lease may expire under it (its worker died or stalled) before the task fails,
   * from `SWARM_MAX_LEASE_LOSSES`. Lost leases are retried without consuming the step's attempts.
   * @default 3
   */
  readonly maxLeaseLosses: number;
  /** Child tasks (agent loops' tool calls) one run may start in all. @default 1000 */
  readonly maxChildTasksPerRun: number;
  /** Let builtin/http_request reach private, loopback and link-local addresses. @default false */
  readonly allowPrivateNetworks: boolean;
  /**
   * Origins (`http://127.0.0.1:11434`) that LLM providers may reach although they are private or
   * loopback addresses, from `SWARM_LLM_ALLOWED_URLS` (comma-separated): a local Ollama without
   * opening every private network to builtin/http_request. @default none
   */
  readonly llmAllowedUrls: readonly string[];
  /**
   * Capability routing gives no work to agents whose trust score is below this, from
   * `SWARM_TRUST_THRESHOLD` (a number from 0 to 1). @default 0.2
   */
  readonly trustThreshold: number;
  /**
   * The master keys that encrypt secrets, from `SWARM_MASTER_KEY` (one key, version 1) or
   * `SWARM_MASTER_KEYS` (`v1:<key>,v2:<key>`, the highest version current); undefined when
   * neither is set, and the key file `masterKeyFile` holds them instead.
   */
  readonly masterKeys: MasterKeys | undefined;
  /** Where generated master keys live when no variable gives them. @default `home`/master.key */
  readonly masterKeyFile: string;
  /**
   * Swarm's Ed25519 key that signs tasks sent to remote (http) agents, from `SWARM_SIGNING_KEY`
   * (PKCS8 PEM); undefined when not set, and `signingKeyFile` holds it instead.
   */
  readonly signingKey: string | undefined;
  /** Where the generated signing key lives when no variable gives it. @default `home`/signing.key */
  readonly signingKeyFile: string;
  /**
   * Remote (http) agents not heard from (heartbeat) for this many seconds are marked inactive,
   * from `SWARM_AGENT_SILENT_AFTER`. @default 90
   */
  readonly agentSilentAfterSeconds: number;
  /**
   * Run the scheduler, the event dispatcher and outgoing webhook delivery in this server process,
   * from `SWARM_TRIGGERS`. Several processes may all run them: ticks and events fire once. @default true
   */
  readonly triggers: boolean;
  /**
   * Largest body a webhook trigger accepts (bytes), from `SWARM_WEBHOOK_BODY_LIMIT`, up to
   * 512 MiB: a body over SWARM_PAYLOAD_INLINE_MAX is stored as a blob (docs/payloads.md). @default 1 MiB
   */
  readonly webhookBodyLimit: number;
  /**
   * Largest API request body (bytes), from `SWARM_BODY_LIMIT`, up to 512 MiB; larger get 413.
   * Remote agents' completions carry their outputs in it. @default 1 MiB
   */
  readonly bodyLimit: number;
  /**
   * A stored JSON value (an input, an output, an event payload) larger than this many bytes is
   * kept as a content-addressed blob and referenced from its row, from
   * `SWARM_PAYLOAD_INLINE_MAX` (docs/payloads.md). @default 64 KiB
   */
  readonly payloadInlineMax: number;
  /**
   * Where blobs are kept, from `SWARM_BLOB_DIR`: a folder (shared by every process), or unset
   * for the database (`blob_chunks`). @default the database
   */
  readonly blobDir: string | undefined;
  /**
   * Everything a process agent may write to stdout in one attempt, its output line included,
   * from `SWARM_AGENT_OUTPUT_MAX` (bytes, up to 512 MiB). @default 256 MiB
   */
  readonly agentOutputMax: number;
  /**
   * Deepest nesting of objects/arrays in a request or webhook body, from `SWARM_BODY_MAX_DEPTH`;
   * deeper get 400 before anything parses them further. @default 64
   */
  readonly bodyMaxDepth: number;
  /**
   * Failed authentications (bad API keys, bad webhook signatures) are counted per source address
   * and key prefix in windows of this many seconds, one row per window, from
   * `SWARM_AUTH_FAILURE_WINDOW`. @default 60
   */
  readonly authFailureWindowSeconds: number;
  /** Days those counts are kept, from `SWARM_AUTH_FAILURE_DAYS`. @default 30 */
  readonly authFailureRetentionDays: number;
  /**
   * The first-start admin's password, from `SWARM_ADMIN_PASSWORD` (12 characters at least); when
   * unset one is generated and printed once. Not enumerable, so `JSON.stringify(config)` never
   * shows it.
   */
  readonly adminPassword: string | undefined;
  /**
   * Mark the session cookie `Secure` even when the request did not come over TLS (Swarm behind a
   * TLS-terminating proxy), from `SWARM_COOKIE_SECURE`. @default false (Secure on TLS requests only)
   */
  readonly cookieSecure: boolean;
  /** A session unused this many minutes ends, from `SWARM_SESSION_IDLE_MINUTES`. @default 720 (12 h) */
  readonly sessionIdleMinutes: number;
  /** A session ends this many hours after sign-in however used, from `SWARM_SESSION_MAX_HOURS`. @default 168 (7 days) */
  readonly sessionMaxHours: number;
  /**
   * For tests only, from `SWARM_RATE_LIMIT_WINDOW_SCALE` (a number above 0, at most 1): shortens
   * the API-key rate-limit windows, 0.1 making the minute 6 s and the hour 6 min. @default 1
   */
  readonly rateLimitWindowScale: number;
  /**
   * How late a schedule tick may be (ms) and still fire as on time, from `SWARM_MISFIRE_GRACE_MS`;
   * later ticks were missed and the schedule's misfire policy applies. @default 60000
   */
  readonly misfireGraceMs: number;
  /** Days dispatched events are kept, from `SWARM_EVENT_RETENTION_DAYS`. @default 7 */
  readonly eventRetentionDays: number;
  /**
   * Limits on every JSONata evaluation, from `SWARM_EXPR_TIMEOUT_MS` (@default 1000),
   * `SWARM_EXPR_MAX_DEPTH` (nested evaluation frames, @default 500) and
   * `SWARM_EXPR_MAX_RESULT_BYTES` (@default 16 MiB). Going past one fails the step.
   */
  readonly expressionLimits: ExpressionLimits;
  /**
   * Event triggers start no run for an event this deep in its causation chain (an event a run
   * caused is one deeper than the event that started the run), from `SWARM_MAX_EVENT_DEPTH`:
   * the firing is recorded as refused, so event loops end. @default 8
   */
  readonly maxEventDepth: number;
  /**
   * The most items one `for_each` may fan out to, from `SWARM_MAX_FAN_OUT`: a longer list fails
   * its step (or, at a run's start, the request with 400). @default 100000
   */
  readonly maxFanOut: number;
  /**
   * Days trigger firings are kept, from `SWARM_FIRING_RETENTION_DAYS`: a webhook's delivery id
   * is recognised as a resend this long. @default 30
   */
  readonly firingRetentionDays: number;
  /** Days audit rows are kept, from `SWARM_AUDIT_RETENTION_DAYS`; 0 keeps them forever. @default 365 */
  readonly auditRetentionDays: number;
  /** How long run records are kept (docs/retention.md), from `SWARM_RETENTION_*_DAYS`. */
  readonly retention: RetentionPolicy;
  /**
   * The thresholds of the alerts Swarm raises (docs/alerts.md): `SWARM_ALERT_AGENT_FAILURES`
   * (failed tasks in a row, @default 5), `SWARM_ALERT_INTERVAL_MS` (how often task outcomes are
   * looked at, @default 5000), `SWARM_ALERT_SLOW_FACTOR` (recent p95 over baseline p95,
   * @default 2), `SWARM_ALERT_SLOW_WINDOW_MIN` (@default 60), `SWARM_ALERT_SLOW_MIN_SAMPLES`
   * (@default 20), `SWARM_ALERT_PERF_INTERVAL_MS` (@default 300000).
   */
  readonly alerts: {
    readonly agentFailures: number;
    readonly intervalMs: number;
    readonly performanceIntervalMs: number;
    readonly slowFactor: number;
    readonly slowWindowMinutes: number;
    readonly slowRecentTasks: number;
    readonly baselineDays: number;
    readonly slowMinSamples: number;
  };
  /** `GET /metrics` (Prometheus, scope `metrics:read`) is served, from `SWARM_METRICS`. @default true */
  readonly metrics: boolean;
  /** A built dashboard to serve at `/` instead of the package's, from `SWARM_DASHBOARD_DIR`. */
  readonly dashboardDir: string | undefined;
  /**
   * The folders node, python and binary agents may be registered from, real paths, from
   * `SWARM_AGENTS_DIRS` (comma-separated absolute paths). @default the examples shipped with
   * Swarm and `home`/agents
   */
  readonly agentsDirs: readonly string[];
  /**
   * How agents' code is kept from Swarm's files (docs/runtimes.md), from `SWARM_AGENT_ISOLATION`:
   * `auto` (namespaces and another uid where the host allows), `namespaces` (required: a worker
   * that cannot does not start) or `none`. @default auto
   */
  readonly agentIsolation: 'auto' | 'namespaces' | 'none';
  /** The uid and gid isolated agents run as, from `SWARM_AGENT_UID` / `SWARM_AGENT_GID`. @default 65534 */
  readonly agentUid: number;
  readonly agentGid: number;
  /**
   * Run node, python and binary agents of non-admin owners on a worker that cannot isolate them,
   * from `SWARM_ALLOW_UNISOLATED_AGENTS`. @default false
   */
  readonly allowUnisolatedAgents: boolean;
}

/**
 * Days each kind of record is kept (seed 002's policy by default); 0 keeps it forever. Enforced
 * by the retention pruner (src/history), once an hour across all processes.
 */
export interface RetentionPolicy {
  /** `execution_logs`, from `SWARM_RETENTION_LOGS_DAYS`. @default 90 */
  readonly logsDays: number;
  /** `messages`, from `SWARM_RETENTION_MESSAGES_DAYS`. @default 30 */
  readonly messagesDays: number;
  /** `metrics`, from `SWARM_RETENTION_METRICS_DAYS`. @default 365 */
  readonly metricsDays: number;
  /** Resolved `alerts`, from `SWARM_RETENTION_ALERTS_DAYS`. @default 180 */
  readonly alertsDays: number;
  /** Finished runs' `workflow_runs`/`tasks` rows (once archived), from `SWARM_RETENTION_RUNS_DAYS`. @default 90 */
  readonly runsDays: number;
  /**
   * Finished tasks of no run (`tasks` rows, with their logs and attempts) and finished task
   * chains, from `SWARM_RETENTION_TASKS_DAYS`. @default 90
   */
  readonly tasksDays: number;
  /** `execution_history`, from `SWARM_RETENTION_HISTORY_DAYS`. @default 0 (forever) */
  readonly historyDays: number;
}

/** Seed 002's retention policy; finished runs as long as their logs (which are read through them). */
export const DEFAULT_RETENTION: RetentionPolicy = {
  logsDays: 90,
  messagesDays: 30,
  metricsDays: 365,
  alertsDays: 180,
  runsDays: 90,
  tasksDays: 90,
  historyDays: 0,
};

/** Master keys by version. A Map, so the key bytes never show in `JSON.stringify(config)`. */
export interface MasterKeys {
  /** The variable they came from, for messages. */
  readonly source: 'SWARM_MASTER_KEY' | 'SWARM_MASTER_KEYS';
  /** The version new values are encrypted under: the highest. */
  readonly current: number;
  readonly keys: ReadonlyMap<number, Buffer>;
}

/** A master key is 32 bytes (AES-256), written as 64 hex digits or base64 (standard or URL-safe). */
export const MASTER_KEY_BYTES = 32;

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
  const publicUrl = nonEmpty(env.SWARM_PUBLIC_URL)?.replace(/\/+$/, '');
  if (publicUrl !== undefined && (!/^https?:\/\/[^/]/.test(publicUrl) || !URL.canParse(publicUrl)))
    throw new InputError('SWARM_PUBLIC_URL', `not an http(s) URL: "${publicUrl}"`);
  const config: Omit<Config, 'adminPassword'> = {
    home,
    databaseUrl: nonEmpty(env.DATABASE_URL) ?? `sqlite:${path.join(home, 'swarm.db')}`,
    port,
    host,
    logLevel,
    logFormat: parseLogFormat(env.SWARM_LOG_FORMAT),
    serverUrl,
    serverUrlFrom: nonEmpty(env.SWARM_URL)
      ? 'SWARM_URL'
      : nonEmpty(env.SWARM_PORT)
        ? 'SWARM_PORT'
        : 'default',
    publicUrl,
    credential: nonEmpty(env.SWARM_CREDENTIAL),
    apiKey: nonEmpty(env.SWARM_API_KEY),
    owner: nonEmpty(env.SWARM_OWNER),
    examples: parseBoolean('SWARM_EXAMPLES', env.SWARM_EXAMPLES, true),
    worker: parseBoolean('SWARM_WORKER', env.SWARM_WORKER, true),
    workerConcurrency: parseInteger('SWARM_WORKER_CONCURRENCY', env.SWARM_WORKER_CONCURRENCY, 16, 1, 1024),
    leaseMs: parseInteger('SWARM_LEASE_MS', env.SWARM_LEASE_MS, 30_000, 100, 3_600_000),
    maxLeaseLosses: parseInteger('SWARM_MAX_LEASE_LOSSES', env.SWARM_MAX_LEASE_LOSSES, 3, 1, 1000),
    maxChildTasksPerRun: parseInteger(
      'SWARM_MAX_CHILD_TASKS_PER_RUN',
      env.SWARM_MAX_CHILD_TASKS_PER_RUN,
      1000,
      1,
      1_000_000,
    ),
    allowPrivateNetworks: parseBoolean(
      'SWARM_ALLOW_PRIVATE_NETWORKS',
      env.SWARM_ALLOW_PRIVATE_NETWORKS,
      false,
    ),
    llmAllowedUrls: parseOrigins('SWARM_LLM_ALLOWED_URLS', env.SWARM_LLM_ALLOWED_URLS),
    trustThreshold: parseFraction('SWARM_TRUST_THRESHOLD', env.SWARM_TRUST_THRESHOLD, 0.2),
    masterKeys: parseMasterKeys(env),
    masterKeyFile: path.resolve(home, nonEmpty(env.SWARM_MASTER_KEY_FILE) ?? 'master.key'),
    signingKey: parseSigningKey(env.SWARM_SIGNING_KEY),
    signingKeyFile: path.join(home, 'signing.key'),
    agentSilentAfterSeconds: parseInteger(
      'SWARM_AGENT_SILENT_AFTER',
      env.SWARM_AGENT_SILENT_AFTER,
      90,
      1,
      30 * 24 * 3600,
    ),
    triggers: parseBoolean('SWARM_TRIGGERS', env.SWARM_TRIGGERS, true),
    webhookBodyLimit: parseInteger(
      'SWARM_WEBHOOK_BODY_LIMIT',
      env.SWARM_WEBHOOK_BODY_LIMIT,
      1024 * 1024,
      1024,
      MAX_BODY_BYTES,
    ),
    bodyLimit: parseInteger('SWARM_BODY_LIMIT', env.SWARM_BODY_LIMIT, 1024 * 1024, 1024, MAX_BODY_BYTES),
    payloadInlineMax: parseInteger(
      'SWARM_PAYLOAD_INLINE_MAX',
      env.SWARM_PAYLOAD_INLINE_MAX,
      64 * 1024,
      1024,
      64 * 1024 * 1024,
    ),
    blobDir: parseFolder('SWARM_BLOB_DIR', env.SWARM_BLOB_DIR, cwd),
    agentOutputMax: parseInteger(
      'SWARM_AGENT_OUTPUT_MAX',
      env.SWARM_AGENT_OUTPUT_MAX,
      256 * 1024 * 1024,
      1024,
      MAX_BODY_BYTES,
    ),
    bodyMaxDepth: parseInteger('SWARM_BODY_MAX_DEPTH', env.SWARM_BODY_MAX_DEPTH, 64, 2, 512),
    authFailureWindowSeconds: parseInteger(
      'SWARM_AUTH_FAILURE_WINDOW',
      env.SWARM_AUTH_FAILURE_WINDOW,
      60,
      1,
      86_400,
    ),
    authFailureRetentionDays: parseInteger(
      'SWARM_AUTH_FAILURE_DAYS',
      env.SWARM_AUTH_FAILURE_DAYS,
      30,
      1,
      3650,
    ),
    rateLimitWindowScale: parseWindowScale(env.SWARM_RATE_LIMIT_WINDOW_SCALE),
    misfireGraceMs: parseInteger('SWARM_MISFIRE_GRACE_MS', env.SWARM_MISFIRE_GRACE_MS, 60_000, 0, 86_400_000),
    eventRetentionDays: parseInteger(
      'SWARM_EVENT_RETENTION_DAYS',
      env.SWARM_EVENT_RETENTION_DAYS,
      7,
      1,
      3650,
    ),
    expressionLimits: parseExpressionLimits(env),
    maxEventDepth: parseInteger('SWARM_MAX_EVENT_DEPTH', env.SWARM_MAX_EVENT_DEPTH, 8, 1, 1000),
    maxFanOut: parseInteger('SWARM_MAX_FAN_OUT', env.SWARM_MAX_FAN_OUT, 100_000, 1, 10_000_000),
    firingRetentionDays: parseInteger(
      'SWARM_FIRING_RETENTION_DAYS',
      env.SWARM_FIRING_RETENTION_DAYS,
      30,
      1,
      3650,
    ),
    dashboardDir: nonEmpty(env.SWARM_DASHBOARD_DIR),
    metrics: parseBoolean('SWARM_METRICS', env.SWARM_METRICS, true),
    alerts: {
      agentFailures: parseInteger('SWARM_ALERT_AGENT_FAILURES', env.SWARM_ALERT_AGENT_FAILURES, 5, 1, 10_000),
      intervalMs: parseInteger('SWARM_ALERT_INTERVAL_MS', env.SWARM_ALERT_INTERVAL_MS, 5000, 100, 3_600_000),
      performanceIntervalMs: parseInteger(
        'SWARM_ALERT_PERF_INTERVAL_MS',
        env.SWARM_ALERT_PERF_INTERVAL_MS,
        300_000,
        1000,
        86_400_000,
      ),
      slowFactor: parseFactor('SWARM_ALERT_SLOW_FACTOR', env.SWARM_ALERT_SLOW_FACTOR, 2),
      slowWindowMinutes: parseInteger(
        'SWARM_ALERT_SLOW_WINDOW_MIN',
        env.SWARM_ALERT_SLOW_WINDOW_MIN,
        60,
        1,
        10_080,
      ),
      slowRecentTasks: 50,
      baselineDays: 7,
      slowMinSamples: parseInteger(
        'SWARM_ALERT_SLOW_MIN_SAMPLES',
        env.SWARM_ALERT_SLOW_MIN_SAMPLES,
        20,
        1,
        100_000,
      ),
    },
    auditRetentionDays: parseInteger(
      'SWARM_AUDIT_RETENTION_DAYS',
      env.SWARM_AUDIT_RETENTION_DAYS,
      365,
      0,
      36_500,
    ),
    retention: parseRetention(env),
    agentsDirs: parseAgentsDirs(env.SWARM_AGENTS_DIRS, home),
    agentIsolation: parseIsolation(env.SWARM_AGENT_ISOLATION),
    agentUid: parseInteger('SWARM_AGENT_UID', env.SWARM_AGENT_UID, 65534, 1, 4_294_967_294),
    agentGid: parseInteger('SWARM_AGENT_GID', env.SWARM_AGENT_GID, 65534, 1, 4_294_967_294),
    allowUnisolatedAgents: parseBoolean(
      'SWARM_ALLOW_UNISOLATED_AGENTS',
      env.SWARM_ALLOW_UNISOLATED_AGENTS,
      false,
    ),
    cookieSecure: parseBoolean('SWARM_COOKIE_SECURE', env.SWARM_COOKIE_SECURE, false),
    sessionIdleMinutes: parseInteger(
      'SWARM_SESSION_IDLE_MINUTES',
      env.SWARM_SESSION_IDLE_MINUTES,
      720,
      1,
      525_600,
    ),
    sessionMaxHours: parseInteger('SWARM_SESSION_MAX_HOURS', env.SWARM_SESSION_MAX_HOURS, 168, 1, 8760),
  };
  Object.defineProperty(config, 'adminPassword', {
    value: parseAdminPassword(env.SWARM_ADMIN_PASSWORD),
    enumerable: false,
  });
  return Object.freeze(config as Config);
}

function parseAdminPassword(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  // The message never repeats the value: it is a password, however short.
  if (raw.length < 12)
    throw new InputError('SWARM_ADMIN_PASSWORD', `must be 12 characters at least, got ${raw.length}`);
  if (raw.length > 1024) throw new InputError('SWARM_ADMIN_PASSWORD', 'must be 1024 characters at most');
  return raw;
}

/** Decodes one master key; null when it is not 32 bytes of hex or base64. */
export function decodeMasterKey(text: string): Buffer | null {
  const value = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(value)) return Buffer.from(value, 'hex');
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(value)) return null;
  const bytes = Buffer.from(value.replaceAll('-', '+').replaceAll('_', '/'), 'base64');
  return bytes.length === MASTER_KEY_BYTES ? bytes : null;
}

const KEY_FORMAT = `must be ${MASTER_KEY_BYTES} bytes as base64 (44 characters) or hex (64 digits); make one with \`openssl rand -base64 32\``;

function parseMasterKeys(env: NodeJS.ProcessEnv): MasterKeys | undefined {
  const single = nonEmpty(env.SWARM_MASTER_KEY);
  const list = nonEmpty(env.SWARM_MASTER_KEYS);
  if (single !== undefined && list !== undefined) {
    throw new InputError(
      'SWARM_MASTER_KEYS',
      'set SWARM_MASTER_KEY (one key) or SWARM_MASTER_KEYS (versioned keys), not both',
    );
  }
  if (single !== undefined) {
    const key = decodeMasterKey(single);
    // The message never repeats the value: it is a key, however malformed.
    if (key === null)
      throw new InputError('SWARM_MASTER_KEY', `${KEY_FORMAT} (got ${single.length} characters)`);
    return { source: 'SWARM_MASTER_KEY', current: 1, keys: new Map([[1, key]]) };
  }
  if (list === undefined) return undefined;
  const keys = new Map<number, Buffer>();
  for (const [index, entry] of list.split(',').entries()) {
    const item = entry.trim();
    const match = /^v?(\d{1,9}):(.*)$/.exec(item);
    if (match === null) {
      throw new InputError(
        'SWARM_MASTER_KEYS',
        `entry ${index + 1} must be "v<version>:<key>", e.g. v1:<base64>,v2:<base64>`,
      );
    }
    const version = Number(match[1]);
    if (version < 1) throw new InputError('SWARM_MASTER_KEYS', `entry ${index + 1}: versions start at 1`);
    if (keys.has(version)) throw new InputError('SWARM_MASTER_KEYS', `version ${version} is given twice`);
    const key = decodeMasterKey(match[2] ?? '');
    if (key === null) throw new InputError('SWARM_MASTER_KEYS', `v${version}: ${KEY_FORMAT}`);
    keys.set(version, key);
  }
  return { source: 'SWARM_MASTER_KEYS', current: Math.max(...keys.keys()), keys };
}

/** A PKCS8 PEM Ed25519 private key (newlines may be written as \\n in a .env file). */
function parseSigningKey(raw: string | undefined): string | undefined {
  const text = nonEmpty(raw)?.replaceAll('\\n', '\n');
  if (text === undefined) return undefined;
  let type: string | undefined;
  try {
    type = createPrivateKey({ key: text, format: 'pem' }).asymmetricKeyType;
  } catch {
    // The message never repeats the value: it is a private key, however malformed.
    throw new InputError(
      'SWARM_SIGNING_KEY',
      'must be an Ed25519 private key in PKCS8 PEM ("-----BEGIN PRIVATE KEY-----"); make one with `openssl genpkey -algorithm ed25519`',
    );
  }
  if (type !== 'ed25519')
    throw new InputError('SWARM_SIGNING_KEY', `is a ${type ?? 'unknown'} key; an Ed25519 key is required`);
  return text;
}

/** The examples shipped with Swarm (`examples/` at the package root, from src/ or dist/). */
const PACKAGE_EXAMPLES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../examples');

/** Absolute folders; made real paths where they exist, so a symlinked root still matches. */
function parseAgentsDirs(raw: string | undefined, home: string): readonly string[] {
  const dirs = nonEmpty(raw)
    ?.split(',')
    .map((d) => d.trim())
    .filter((d) => d !== '') ?? [PACKAGE_EXAMPLES, path.join(home, 'agents')];
  for (const dir of dirs) {
    if (!path.isAbsolute(dir))
      throw new InputError('SWARM_AGENTS_DIRS', `must list absolute paths, got "${dir}"`);
  }
  return Object.freeze(
    dirs.map((dir) => {
      try {
        return fs.realpathSync(dir);
      } catch {
        return path.resolve(dir);
      }
    }),
  );
}

function parseIsolation(raw: string | undefined): Config['agentIsolation'] {
  const value = nonEmpty(raw) ?? 'auto';
  if (value === 'auto' || value === 'namespaces' || value === 'none') return value;
  throw new InputError('SWARM_AGENT_ISOLATION', `must be auto, namespaces or none, got "${value}"`);
}

function parseLogFormat(raw: string | undefined): Config['logFormat'] {
  const value = nonEmpty(raw)?.toLowerCase() ?? 'auto';
  if (value === 'auto' || value === 'json' || value === 'pretty') return value;
  throw new InputError('SWARM_LOG_FORMAT', `must be auto, json or pretty, got "${raw}"`);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function parseExpressionLimits(env: NodeJS.ProcessEnv): ExpressionLimits {
  const defaults = DEFAULT_EXPRESSION_LIMITS;
  return Object.freeze({
    timeoutMs: parseInteger(
      'SWARM_EXPR_TIMEOUT_MS',
      env.SWARM_EXPR_TIMEOUT_MS,
      defaults.timeoutMs,
      10,
      600_000,
    ),
    maxDepth: parseInteger('SWARM_EXPR_MAX_DEPTH', env.SWARM_EXPR_MAX_DEPTH, defaults.maxDepth, 10, 100_000),
    maxResultBytes: parseInteger(
      'SWARM_EXPR_MAX_RESULT_BYTES',
      env.SWARM_EXPR_MAX_RESULT_BYTES,
      defaults.maxResultBytes,
      1024,
      1024 * 1024 * 1024,
    ),
  });
}

/** Comma-separated http(s) origins; each given as a bare origin (no path, query or credentials). */
function parseOrigins(name: string, raw: string | undefined): readonly string[] {
  const origins: string[] = [];
  for (const part of (raw ?? '').split(',')) {
    const value = part.trim();
    if (value === '') continue;
    const url = URL.canParse(value) ? new URL(value) : null;
    if (
      url === null ||
      (url.protocol !== 'http:' && url.protocol !== 'https:') ||
      url.username !== '' ||
      url.password !== '' ||
      url.pathname.replace(/\/+$/, '') !== '' ||
      url.search !== '' ||
      url.hash !== ''
    )
      throw new InputError(name, `"${value}" is not an origin like http://127.0.0.1:11434`);
    origins.push(url.origin);
  }
  return Object.freeze(origins);
}

function parseBoolean(name: string, raw: string | undefined, fallback: boolean): boolean {
  const value = nonEmpty(raw)?.toLowerCase();
  if (value === undefined) return fallback;
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  if (['0', 'false', 'no', 'off'].includes(value)) return false;
  throw new InputError(name, `must be true or false, got "${raw}"`);
}

/**
 * Bodies and agent outputs are read whole into one string before they are parsed: V8 strings
 * hold at most about 2^29 characters, so nothing above 512 MiB could be read anyway.
 */
const MAX_BODY_BYTES = 512 * 1024 * 1024;

/** An absolute folder (a relative one is taken from `cwd`), or undefined when unset. */
function parseFolder(name: string, raw: string | undefined, cwd: string): string | undefined {
  const value = nonEmpty(raw);
  if (value === undefined) return undefined;
  if (value.includes('\0')) throw new InputError(name, 'must be a folder path');
  const folder = path.resolve(cwd, value);
  if (fs.existsSync(folder) && !fs.statSync(folder).isDirectory()) {
    throw new InputError(name, `must be a folder, but ${folder} is a file`);
  }
  return folder;
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

function parseRetention(env: NodeJS.ProcessEnv): RetentionPolicy {
  const days = (kind: string, fallback: number) =>
    parseInteger(`SWARM_RETENTION_${kind}_DAYS`, env[`SWARM_RETENTION_${kind}_DAYS`], fallback, 0, 36_500);
  return {
    logsDays: days('LOGS', DEFAULT_RETENTION.logsDays),
    messagesDays: days('MESSAGES', DEFAULT_RETENTION.messagesDays),
    metricsDays: days('METRICS', DEFAULT_RETENTION.metricsDays),
    alertsDays: days('ALERTS', DEFAULT_RETENTION.alertsDays),
    runsDays: days('RUNS', DEFAULT_RETENTION.runsDays),
    tasksDays: days('TASKS', DEFAULT_RETENTION.tasksDays),
    historyDays: days('HISTORY', DEFAULT_RETENTION.historyDays),
  };
}

function parseFraction(name: string, raw: string | undefined, fallback: number): number {
  const text = nonEmpty(raw);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^[0-9.eE+-]+$/.test(text) || !Number.isFinite(value) || value < 0 || value > 1) {
    throw new InputError(name, `must be a number from 0 to 1, got "${raw}"`);
  }
  return value;
}

/** A factor over 1 (`2`, `1.5`). */
function parseFactor(name: string, raw: string | undefined, fallback: number): number {
  const text = nonEmpty(raw);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^[0-9.]+$/.test(text) || !Number.isFinite(value) || value <= 1 || value > 1000) {
    throw new InputError(name, `must be a number over 1 and at most 1000, got "${raw}"`);
  }
  return value;
}

function parseWindowScale(raw: string | undefined): number {
  const text = nonEmpty(raw);
  if (text === undefined) return 1;
  const value = Number(text);
  if (!/^[0-9.eE+-]+$/.test(text) || !Number.isFinite(value) || value <= 0 || value > 1) {
    throw new InputError(
      'SWARM_RATE_LIMIT_WINDOW_SCALE',
      `must be a number above 0 and at most 1 (tests only), got "${raw}"`,
    );
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
