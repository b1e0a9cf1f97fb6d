import Fastify, { type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import type { Logger } from 'pino';
import { Authenticator } from '../auth/index.js';
import { Engine } from '../engine/index.js';
import { parseDocument, Registry } from '../registry/index.js';
import { SwarmError } from '../errors/index.js';
import type { SigningKey } from '../runtimes/index.js';
import { openKeyring, type Keyring } from '../secrets/index.js';
import { loadConfig } from '../config/index.js';
import type { Store } from '../storage/index.js';
import { registerAuth } from './auth-hook.js';
import { problemSchema, sendProblem } from './problem.js';
import { agentRoutes, agentSchema } from './routes/agents.js';
import { artifactRoutes } from './routes/artifacts.js';
import { healthRoutes } from './routes/health.js';
import { llmProviderRoutes } from './routes/llm-providers.js';
import { apiKeySchema, keyRoutes } from './routes/keys.js';
import { meRoutes, userSchema } from './routes/me.js';
import { openApiRoutes } from './routes/openapi.js';
import { remoteAgentRoutes } from './routes/remote-agents.js';
import { runRoutes, runSchema } from './routes/runs.js';
import { secretRoutes } from './routes/secrets.js';
import { taskRoutes } from './routes/tasks.js';
import { workflowRoutes, workflowSchema } from './routes/workflows.js';
import type { RouteDeps } from './routes/deps.js';
import { eventRoutes } from './routes/events.js';
import { hookRoutes } from './routes/hooks.js';
import { scheduledTaskRoutes } from './routes/scheduled-tasks.js';
import { triggerRoutes } from './routes/triggers.js';
import { webhookRoutes } from './routes/webhooks.js';
import { SWARM_VERSION } from './version.js';

export interface AppOptions {
  readonly store: Store;
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
  /** Swarm's signing key, served at GET /api/v1/signing-key; without it that route answers 404. */
  readonly signingKey?: SigningKey;
  /** Largest body a webhook trigger (`POST /hooks/<path>`) accepts; larger get 413. @default 1 MiB */
  readonly webhookBodyLimit?: number;
}

/** The HTTP API, ready for `listen()` or `inject()`. */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...(options.logger === undefined ? { logger: false } : { loggerInstance: options.logger }),
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    // Requests are served until close() begins; then new ones get 503 and keep-alive sockets close.
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: true } },
  }) as unknown as FastifyInstance;

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Swarm API',
        version: SWARM_VERSION,
        description: 'Agents, workflows, runs, tasks and their records. Errors are RFC 9457 problem+json.',
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
        done(null, parseDocument(body as string, 'yaml', 'body'));
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

  registerAuth(app, new Authenticator(options.store));
  healthRoutes(app, options.store);
  openApiRoutes(app);
  meRoutes(app, options.store);
  keyRoutes(app, options.store);
  const registry = new Registry(options.store);
  agentRoutes(app, registry);
  workflowRoutes(app, registry, () => deps);
  const engine = options.engine ?? new Engine(options.store);
  runRoutes(app, registry, engine, options.onRunStarted ?? (() => {}), options.store);
  taskRoutes(app, registry, options.store, options.onRunStarted);
  secretRoutes(app, options.store, options.keyring);
  llmProviderRoutes(app, options.store);
  artifactRoutes(app, options.store, options.home ?? null);
  remoteAgentRoutes(app, options.store, options.signingKey ?? null, engine);
  let keyring = options.keyring;
  const deps: RouteDeps = {
    store: options.store,
    registry,
    engine,
    keyring: () => (keyring ??= openKeyring(loadConfig(), { warn: (message) => app.log.warn(message) })),
    onRunStarted: options.onRunStarted ?? (() => {}),
    webhookBodyLimit: options.webhookBodyLimit ?? 1024 * 1024,
  };
  hookRoutes(app, deps);
  triggerRoutes(app, deps);
  eventRoutes(app, deps);
  scheduledTaskRoutes(app, deps);
  webhookRoutes(app, deps);
  return app;
}
