import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Logger } from 'pino';
import { AuthFailureCounter, Authenticator, RateLimiter } from '../auth/index.js';
import { Engine } from '../engine/index.js';
import { EXAMPLES_DIR, parseDocument, Registry } from '../registry/index.js';
import { InputError, SwarmError } from '../errors/index.js';
import type { SigningKey } from '../runtimes/index.js';
import { openKeyring, type Keyring } from '../secrets/index.js';
import { loadConfig } from '../config/index.js';
import { depthMessage, findJsonProblem, type Store } from '../storage/index.js';
import { registerAuth } from './auth-hook.js';
import { createPeople, type SessionAppOptions } from './people.js';
import { sessionRoutes } from './routes/sessions.js';
import { userRoutes } from './routes/users.js';
import { startAuditRetention } from './audit-retention.js';
import { auditLogRoutes } from './routes/audit-logs.js';
import { registerRouteScopes } from './route-scope.js';
import { registerRequestMetrics } from './metrics-hook.js';
import { metricsRoutes } from './routes/metrics.js';
import { registerRateLimit } from './rate-limit-hook.js';
import { clientErrorAnswerer } from './client-error.js';
import { HTTP_SERVER_OPTIONS, registerHostCheck } from './host-header.js';
import {
  DEFAULT_LINGER,
  LingeringClose,
  registerLingeringClose,
  type LingerLimits,
} from './lingering-close.js';
import {
  BODY_DEPTH_SETTING,
  registerInputGuard,
  setSecurityHeaders,
  yamlTextTooDeep,
} from './input-guard.js';
import { problemSchema, sendProblem } from './problem.js';
import { agentRoutes, agentSchema } from './routes/agents.js';
import { artifactRoutes } from './routes/artifacts.js';
import { blobRoutes } from './routes/blobs.js';
import { conversationRoutes } from './routes/conversation.js';
import { alertRoutes } from './routes/alerts.js';
import { connectorRoutes } from './routes/connectors.js';
import { approvalRoutes } from './routes/approvals.js';
import { approvalLinkRoutes } from './routes/approval-links.js';
import { budgetRoutes } from './routes/budgets.js';
import { authFailureRoutes } from './routes/auth-failures.js';
import { healthRoutes } from './routes/health.js';
import { llmProviderRoutes } from './routes/llm-providers.js';
import { mcpServerRoutes } from './routes/mcp-servers.js';
import { apiKeySchema, keyRoutes } from './routes/keys.js';
import { meRoutes, userSchema } from './routes/me.js';
import { openApiRoutes } from './routes/openapi.js';
import { registerDashboard } from './dashboard.js';
import { remoteAgentRoutes } from './routes/remote-agents.js';
import { agentStatsRoutes } from './routes/agent-stats.js';
import { runRoutes, runSchema } from './routes/runs.js';
import { historyRoutes } from './routes/history.js';
import { templateRoutes } from './routes/templates.js';
import { startHistoryService } from '../history/index.js';
import { schemaCompilers } from './compilers.js';
import type { RetentionPolicy } from '../config/index.js';
import { runAttemptRoutes } from './routes/run-attempts.js';
import { secretRoutes } from './routes/secrets.js';
import { taskRoutes } from './routes/tasks.js';
import { queueSummaryRoutes } from './routes/queue-summary.js';
import { flowKeyRoutes } from './routes/flow-keys.js';
import { workflowRoutes, workflowSchema } from './routes/workflows.js';
import type { RouteDeps } from './routes/deps.js';
import { eventRoutes } from './routes/events.js';
import { hookRoutes } from './routes/hooks.js';
import { scheduledTaskRoutes } from './routes/scheduled-tasks.js';
import { triggerRoutes } from './routes/triggers.js';
import { webhookRoutes } from './routes/webhooks.js';
import { SWARM_VERSION } from './version.js';
import { registerHttpTracing } from '../telemetry/index.js';
import { mcpRoutes, type McpOptions } from './mcp/index.js';
import type { McpPool } from '../mcp/index.js';

export interface AppOptions {
  readonly store: Store;
  /** The built dashboard (index.html and assets/). @default dist/web of the package */
  readonly dashboardDir?: string;
  /** A pino logger; none for a silent app (tests). */
  readonly logger?: Logger;
  /** Largest accepted request body. @default 1 MiB */
  readonly bodyLimit?: number;
  /** Starts runs; one is made for the store when not given. */
  readonly engine?: Engine;
  /** Called when a run was started, so an in-process worker looks for its tasks at once. */
  readonly onRunStarted?: () => void;
  /** The master keys for secrets; the environment's (SWARM_MASTER_KEY(S) or the key file) when not given. */
  readonly keyring?: Keyring;
  /** SWARM_HOME, where larger artifacts are kept; without it their content cannot be read. */
  readonly home?: string;
  /** SWARM_AGENTS_DIRS: where agents with code may be registered from. @default examples and `home`/agents */
  readonly agentsDirs?: readonly string[];
  /** Swarm's signing key, served at GET /api/v1/signing-key; without it that route answers 404. */
  readonly signingKey?: SigningKey;
  /** Largest body a webhook trigger (`POST /hooks/<path>`) accepts; larger get 413. @default 1 MiB */
  readonly webhookBodyLimit?: number;
  /** Deepest nesting of a request or webhook body; deeper get 400. @default 64 */
  readonly bodyMaxDepth?: number;
  /**
   * How long, and how much more input, a connection answered before its request was fully
   * received (a 413, a refused request) is read and dropped before it is cut. @default 10 s, 64 MiB
   */
  readonly lingering?: LingerLimits;
  /**
   * Where LLM providers may point (SWARM_ALLOW_PRIVATE_NETWORKS, SWARM_LLM_ALLOWED_URLS); the
   * environment's when not given.
   */
  readonly providerUrls?: { readonly allowPrivateNetworks: boolean; readonly allowedUrls: readonly string[] };
  /** Failed authentications are counted in windows of this many seconds. @default 60 */
  readonly authFailureWindowSeconds?: number;
  /** Days those counts are kept. @default 30 */
  readonly authFailureRetentionDays?: number;
  /** Days audit rows are kept (SWARM_AUDIT_RETENTION_DAYS; 0 forever). @default 0: not pruned here */
  readonly auditRetentionDays?: number;
  /** Counts failed authentications; one is made (from the two options above) when not given. */
  readonly authFailures?: AuthFailureCounter;
  /**
   * API-key rate limits (src/auth/rate-limit.ts): `false` turns them off (benchmarks compare),
   * `windowScale` shortens both windows (tests only). @default on, real windows
   */
  readonly rateLimits?: false | { readonly windowScale?: number; readonly now?: () => number };
  /**
   * Sign-in and cookie sessions (src/server/people.ts): expiry, Secure cookies, the login
   * throttle, password hashing parameters. @default 12 h idle, 7 days, OWASP's scrypt
   */
  readonly sessions?: SessionAppOptions;
  /** Serve `GET /metrics` (Prometheus; SWARM_METRICS). @default true */
  readonly metrics?: boolean;
  /** The MCP endpoint's waits for runs (src/server/mcp). @default 25 s, at most 60, read every 250 ms */
  readonly mcp?: McpOptions;
  /**
   * The process's MCP connections, for listing servers' tools (`swarm start` shares the worker's,
   * and closes it). @default a pool of the app's own from the environment, closed with the app
   */
  readonly mcpPool?: McpPool;
  /**
   * Archive finished runs and prune records by this policy (src/history; SWARM_RETENTION_*).
   * @default off: nothing archived or pruned here (tests)
   */
  readonly retention?: RetentionPolicy;
  /** SWARM_PUBLIC_URL: the origin of approval links. @default where each request reached the server */
  readonly publicUrl?: string;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Failed authentications, counted per window; `flush()` writes the counts gathered so far. */
    authFailures: AuthFailureCounter;
  }
}

/** The HTTP API, ready for `listen()` or `inject()`. */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const lingering = new LingeringClose(options.lingering ?? DEFAULT_LINGER);
  const app = Fastify({
    ...(options.logger === undefined ? { logger: false } : { loggerInstance: options.logger }),
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    // Requests are served until close() begins; then new ones get 503 and keep-alive sockets close.
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: true } },
    // Validators and serializers compiled once per process, not once per app (src/server/compilers.ts).
    schemaController: { compilersFactory: schemaCompilers },
    // Requests refused before routing (a path that is not valid percent-encoded UTF-8, a path
    // parameter too long) get problem+json and the security headers like every other answer.
    frameworkErrors: (error, request, reply) => {
      setSecurityHeaders(reply);
      void sendProblem(request, reply, error);
    },
    clientErrorHandler: clientErrorAnswerer(lingering),
    http: HTTP_SERVER_OPTIONS,
  }) as unknown as FastifyInstance;
  const bodyMaxDepth = options.bodyMaxDepth ?? 64;
  // A span per request when tracing is on (src/telemetry): before the other hooks it covers.
  registerHttpTracing(app);
  // First: every later hook, parser and route sees only input that passed it.
  registerInputGuard(app, { maxDepth: bodyMaxDepth });
  // Early too: a request arriving on a connection already answered and draining goes no further.
  registerLingeringClose(app, lingering);
  registerHostCheck(app);
  // Before any route: each must declare its scope, or the app does not start.
  registerRouteScopes(app);
  // Counts every answered request by route pattern and status (src/metrics): in memory.
  registerRequestMetrics(app);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Swarm API',
        version: SWARM_VERSION,
        description:
          'Agents, workflows, runs, tasks and their records. Errors are RFC 9457 problem+json. ' +
          "An admin acts on another owner's resources by sending `X-Swarm-Owner: <user id or email>` " +
          '(any route but /api/v1/auth/…): the request runs as that owner and the audit log names the admin.',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An API key' } },
      },
      security: [{ bearer: [] }],
    },
    refResolver: { buildLocalReference: (json) => String(json.$id) },
  });
  for (const schema of [problemSchema, userSchema, apiKeySchema, agentSchema, workflowSchema, runSchema])
    app.addSchema(schema);
  // Definitions may be sent as YAML, as they are usually written.
  app.addContentTypeParser(
    ['application/yaml', 'application/x-yaml', 'text/yaml'],
    { parseAs: 'string' },
    (_request, body, done) => {
      try {
        // The YAML parser recurses: deep text is refused before it parses (see yamlTextTooDeep).
        if (yamlTextTooDeep(body as string, bodyMaxDepth))
          throw new InputError('body', depthMessage(bodyMaxDepth, BODY_DEPTH_SETTING));
        const value = parseDocument(body as string, 'yaml', 'body');
        const problem = findJsonProblem(value, 'body', { maxDepth: bodyMaxDepth, rejectNul: true });
        if (problem !== null) throw new InputError(problem.field, problem.message);
        done(null, value);
      } catch (error) {
        done(error as Error, undefined);
      }
    },
  );

  app.setErrorHandler(async (error, request, reply) => sendProblem(request, reply, error));
  app.setNotFoundHandler(async (request, reply) =>
    sendProblem(
      request,
      reply,
      new SwarmError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`),
    ),
  );

  const failures = (
    options.authFailures ??
    new AuthFailureCounter(options.store, {
      windowSeconds: options.authFailureWindowSeconds ?? 60,
      retentionDays: options.authFailureRetentionDays ?? 30,
      onError: (error) => app.log.error({ err: error }, 'recording failed authentications failed'),
    })
  ).start();
  // After in-flight requests: the counts they made are written before the store closes.
  app.addHook('onClose', () => failures.close());
  const stopAuditRetention = startAuditRetention(options.store, {
    days: options.auditRetentionDays ?? 0,
    onError: (error) => app.log.error({ err: error }, 'pruning the audit log failed'),
  });
  app.addHook('onClose', () => stopAuditRetention());
  app.decorate('authFailures', failures);
  const authenticator = new Authenticator(options.store, failures, {
    onError: (error) => app.log.error({ err: error }, "recording API keys' last use failed"),
  });
  // After in-flight requests: their keys' last use is written before the store closes.
  app.addHook('onClose', () => authenticator.close());
  // Before the auth hook, which reads the session cookie it parses.
  await app.register(cookie);
  const people = createPeople(options.store, options.sessions);
  registerAuth(app, authenticator, options.store, people.sessions);
  if (options.rateLimits !== false) {
    const limiter = new RateLimiter(options.store, {
      ...options.rateLimits,
      onError: (error) => app.log.error({ err: error }, 'rate limits: giving back or pruning failed'),
    });
    registerRateLimit(app, limiter);
  }
  healthRoutes(app, options.store);
  openApiRoutes(app);
  // The API reference in the browser, from the package's own copy of Swagger UI (no CDN).
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
  await registerDashboard(app, options.dashboardDir);
  meRoutes(app, options.store);
  keyRoutes(app, options.store);
  userRoutes(app, options.store, people.passwordParams);
  sessionRoutes(app, options.store, people.login, people.cookie);
  // Code may be registered from the agents folders only (SWARM_AGENTS_DIRS; by default the
  // examples and SWARM_HOME/agents).
  const registry = new Registry(options.store, {
    agentsDirs: options.agentsDirs ?? [
      EXAMPLES_DIR,
      ...(options.home === undefined ? [] : [path.join(options.home, 'agents')]),
    ],
  });
  agentRoutes(app, registry);
  workflowRoutes(app, registry, () => deps);
  const engine = options.engine ?? new Engine(options.store);
  runRoutes(app, registry, engine, options.onRunStarted ?? (() => {}), options.store);
  historyRoutes(app, options.store);
  templateRoutes(app, registry, () => deps);
  if (options.retention !== undefined) {
    const stopHistory = startHistoryService({
      store: options.store,
      engine,
      retention: options.retention,
      onError: (error, what) => app.log.error({ err: error }, `execution history: ${what} failed`),
    });
    app.addHook('onClose', () => stopHistory());
  }
  mcpRoutes(
    app,
    { store: options.store, registry, engine, onRunStarted: options.onRunStarted ?? (() => {}) },
    options.mcp,
  );
  runAttemptRoutes(app, options.store);
  blobRoutes(app, options.store);
  taskRoutes(app, registry, options.store, options.onRunStarted);
  queueSummaryRoutes(app, options.store);
  flowKeyRoutes(app, options.store);
  secretRoutes(app, options.store, options.keyring);
  llmProviderRoutes(app, options.store, options.providerUrls);
  mcpServerRoutes(app, options.store, {
    ...(options.mcpPool === undefined ? {} : { pool: options.mcpPool }),
    ...(options.keyring === undefined ? {} : { keyring: options.keyring }),
  });
  authFailureRoutes(app, options.store);
  auditLogRoutes(app, options.store);
  artifactRoutes(app, options.store, options.home ?? null);
  conversationRoutes(app, options.store);
  budgetRoutes(app, options.store);
  alertRoutes(app, options.store);
  connectorRoutes(app, options.store, {
    ...(options.keyring === undefined ? {} : { keyring: options.keyring }),
    // The same switch as the workers' (SWARM_ALLOW_PRIVATE_NETWORKS): a test reaches what a step would.
    ...(options.providerUrls === undefined
      ? {}
      : { allowPrivateNetworks: options.providerUrls.allowPrivateNetworks }),
  });
  remoteAgentRoutes(app, options.store, options.signingKey ?? null, engine);
  agentStatsRoutes(app, options.store);
  let keyring = options.keyring;
  const deps: RouteDeps = {
    store: options.store,
    registry,
    engine,
    keyring: () => (keyring ??= openKeyring(loadConfig(), { warn: (message) => app.log.warn(message) })),
    onRunStarted: options.onRunStarted ?? (() => {}),
    webhookBodyLimit: options.webhookBodyLimit ?? 1024 * 1024,
    bodyMaxDepth,
    failures,
  };
  hookRoutes(app, deps);
  approvalRoutes(app, options.store, {
    keyring: deps.keyring,
    ...(options.publicUrl === undefined ? {} : { publicUrl: options.publicUrl }),
  });
  approvalLinkRoutes(app, options.store, deps.keyring);
  triggerRoutes(app, deps);
  eventRoutes(app, deps);
  scheduledTaskRoutes(app, deps);
  webhookRoutes(app, deps);
  metricsRoutes(app, options.store, { prometheus: options.metrics ?? true });
  return app;
}
