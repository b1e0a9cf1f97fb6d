import { blobConfig, configureBlobs } from '../blobs/index.js';
import fs from 'node:fs';
import type { Logger } from 'pino';
import { bootstrapAdmin, rememberServer, type Bootstrapped } from '../auth/index.js';
import type { Config } from '../config/index.js';
import { registerExamples, Registry, type ExamplesReport } from '../registry/index.js';
import { Engine } from '../engine/index.js';
import { configureExpressionLimits } from '../expressions/index.js';
import { createMcpPool } from '../mcp/index.js';
import { openSigningKey, ProcessSandbox } from '../runtimes/index.js';
import { openKeyring, SecretsService } from '../secrets/index.js';
import { AlertDaemon, completionAlerts } from '../alerts/index.js';
import { Store } from '../storage/index.js';
import { syncAllTriggers, TriggerDaemon, type EventSubscriber } from '../triggers/index.js';
import { createDeliveries, DeliveryWorker, subscribedEventIds } from '../webhooks/index.js';
import { createWorker, type Worker } from '../worker/index.js';
import { SwarmError } from '../errors/index.js';
import { buildApp } from './app.js';
import { consoleLogger } from './console-log.js';

export interface RunningServer {
  /** The URL the server listens on (with the real port when 0 was asked for). */
  readonly url: string;
  readonly store: Store;
  /** Set on the store's first start only. */
  readonly bootstrapped: Bootstrapped | null;
  /** The example agents and workflows registered for the admin on the first start. */
  readonly examples: ExamplesReport | null;
  /** Stops accepting requests, lets in-flight ones finish, then closes the database. */
  close(): Promise<void>;
}

/** Migrates, bootstraps the admin on first start, and listens. */
export async function startServer(
  config: Config,
  logger: Logger = consoleLogger({ level: config.logLevel, format: config.logFormat }),
): Promise<RunningServer> {
  // Process-wide: the API (run starts), the worker and the triggers all evaluate expressions.
  configureExpressionLimits(config.expressionLimits);
  // Process-wide too: every writer of inputs, outputs and payloads spills large ones to blobs.
  configureBlobs(blobConfig(config));
  // SWARM_HOME holds the database, keys and artifacts: made private (0700) before anything in it.
  fs.mkdirSync(config.home, { recursive: true, mode: 0o700 });
  const store = await Store.open(config.databaseUrl);
  // Closed too if starting fails after it listens (the database went away mid-start): a listener
  // left open kept the process alive, answering 500 on a closed store, instead of exiting.
  let listening: { close(): Promise<unknown> } | null = null;
  let listeningUrl = config.serverUrl;
  try {
    const engine = new Engine(store, { maxFanOut: config.maxFanOut });
    // One keyring per process: the API encrypts with it, the worker decrypts granted secrets.
    const keyring = openKeyring(config, { warn: (message) => logger.warn(message) });
    // `swarm start` is server, worker and scheduler in one process by default.
    const signingKey = openSigningKey(config);
    // One pool of MCP connections for the process: the worker's tool calls and the API's tool
    // lists share the stdio programs it started. Closed last, after the worker stopped.
    const mcp = createMcpPool({
      store,
      secrets: new SecretsService(store, keyring),
      home: config.home,
      allowPrivateNetworks: config.allowPrivateNetworks,
      allowUnisolated: config.allowUnisolatedAgents,
      // Made when the first stdio server starts, with the worker's isolation settings.
      sandbox: () =>
        new ProcessSandbox({
          isolation: { mode: config.agentIsolation, uid: config.agentUid, gid: config.agentGid },
        }),
    });
    const worker: Worker | null = config.worker
      ? createWorker(store, engine, config, logger, {
          keyring,
          signingKey,
          mcp,
          // Links its approval steps email point here (once listening, `url` is known).
          publicUrl: () => config.publicUrl ?? listeningUrl,
        })
      : null;
    const app = await buildApp({
      store,
      mcpPool: mcp,
      logger,
      engine,
      keyring,
      signingKey,
      home: config.home,
      agentsDirs: config.agentsDirs,
      onRunStarted: () => worker?.notify(),
      webhookBodyLimit: config.webhookBodyLimit,
      providerUrls: { allowPrivateNetworks: config.allowPrivateNetworks, allowedUrls: config.llmAllowedUrls },
      bodyLimit: config.bodyLimit,
      bodyMaxDepth: config.bodyMaxDepth,
      authFailureWindowSeconds: config.authFailureWindowSeconds,
      authFailureRetentionDays: config.authFailureRetentionDays,
      sessions: {
        idleMinutes: config.sessionIdleMinutes,
        maxHours: config.sessionMaxHours,
        cookieSecure: config.cookieSecure,
      },
      auditRetentionDays: config.auditRetentionDays,
      retention: config.retention,
      metrics: config.metrics,
      ...(config.publicUrl === undefined ? {} : { publicUrl: config.publicUrl }),
      ...(config.dashboardDir === undefined ? {} : { dashboardDir: config.dashboardDir }),
      rateLimits: { windowScale: config.rateLimitWindowScale },
    });
    await app.listen({ port: config.port, host: config.host }).catch(async (error: NodeJS.ErrnoException) => {
      // Its timers (and hooks) stop before the store closes below.
      await app.close();
      if (error.code !== 'EADDRINUSE') throw error;
      throw new SwarmError(
        'PORT_IN_USE',
        `port ${config.port} on ${config.host} is in use (another Swarm?): stop that process, or choose another port with SWARM_PORT (or --port)`,
        { cause: error },
      );
    });
    listening = app;
    const address = app.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : config.port;
    const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
    listeningUrl = url;
    const bootstrapped = await bootstrapAdmin(store, config.home, url, {
      password: config.adminPassword === undefined ? 'generate' : { given: config.adminPassword },
    });
    // The CLI finds this database's server where it listens now, whatever port it had before.
    if (bootstrapped === null) await rememberServer(store, config.home, url);
    // A newcomer sees working definitions at once; later starts leave the registry alone.
    const examples =
      bootstrapped === null || !config.examples
        ? null
        : await registerExamples(new Registry(store, { agentsDirs: config.agentsDirs }), {
            userId: bootstrapped.user.id,
            role: bootstrapped.user.role,
          });
    if (examples?.skipped !== undefined) logger.warn(examples.skipped);
    // Workflows stored without the API (examples, imports, copies) get their triggers here.
    await syncAllTriggers(store, keyring, (workflow, error) =>
      logger.warn({ err: error, workflow }, `the trigger of workflow ${workflow} was not synced`),
    );
    // Every dispatched event also queues deliveries to the outgoing webhooks subscribed to it.
    const deliveriesFor: EventSubscriber = {
      wants: (db, events) => subscribedEventIds(db, events),
      take: (trx, dialect, event) => createDeliveries(trx, dialect, event),
    };
    const triggers = config.triggers
      ? new TriggerDaemon({
          store,
          engine,
          logger,
          // Webhook deliveries first: an alert raised while dispatching is an event of its own.
          subscribers: [deliveriesFor, completionAlerts],
          misfireGraceMs: config.misfireGraceMs,
          maxEventDepth: config.maxEventDepth,
          retention: { eventsDays: config.eventRetentionDays, firingsDays: config.firingRetentionDays },
          onStarted: () => worker?.notify(),
        })
      : null;
    // Alerts from task outcomes and durations: with the triggers (a worker-only process has none).
    const alerts = config.triggers ? new AlertDaemon(store, config.alerts, logger) : null;
    const deliveries = config.triggers
      ? new DeliveryWorker({ store, keyring, logger, allowPrivateNetworks: config.allowPrivateNetworks })
      : null;
    worker?.start();
    triggers?.start();
    deliveries?.start();
    alerts?.start();
    let closing: Promise<void> | undefined;
    return {
      url,
      store,
      bootstrapped,
      examples,
      close() {
        closing ??= (async () => {
          await app.close();
          await triggers?.stop();
          await alerts?.stop();
          await deliveries?.stop();
          // Running tasks get a grace period; what is left is handed back for other workers.
          await worker?.stop(10_000);
          await mcp.close();
          await store.close();
        })();
        return closing;
      },
    };
  } catch (error) {
    await listening?.close().catch(() => {});
    await store.close();
    throw error;
  }
}
