import { blobConfig, configureBlobs } from '../blobs/index.js';
import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import type { Engine } from '../engine/index.js';
import {
  BuiltinRuntime,
  createLlmRuntime,
  storeLlmLookup,
  DatabaseEventSink,
  DispatchRuntime,
  HttpAgentRuntime,
  openSigningKey,
  ProcessRuntime,
  ProcessSandbox,
  type ProcessSandboxOptions,
  type Mailer,
  type SigningKey,
} from '../runtimes/index.js';
import { ConnectorResolver, SmtpMailer, StoreArtifactSource } from '../connectors/index.js';
import { linkMaker } from '../approvals/index.js';
import { createMcpPool, McpRuntime, type McpPool } from '../mcp/index.js';
import { openKeyring, SecretsService, type Keyring } from '../secrets/index.js';
import type { Store } from '../storage/index.js';
import { Worker, type WorkerOptions } from './worker.js';

/** What createWorker takes besides the configuration. */
export interface WorkerOverrides {
  concurrency?: number;
  leaseMs?: number;
  sandbox?: ProcessSandboxOptions;
  /**
   * The master keys granted secrets are decrypted with: the process's one keyring (the server
   * shares its own). @default openKeyring(config), warnings to `logger`
   */
  keyring?: Keyring;
  /** Signs tasks sent to remote (http) agents. @default openSigningKey(config) */
  signingKey?: SigningKey;
  /**
   * The process's MCP connections, when it shares them (`swarm start`: the API lists tools with
   * the same pool) and closes them itself. @default a pool of the worker's own, closed when it stops
   */
  mcp?: McpPool;
  /**
   * The origin of the approval links steps email. @default SWARM_PUBLIC_URL, else SWARM_URL
   * (`swarm start` gives where its server listens)
   */
  publicUrl?: () => string;
  /** Sends builtins' email (send_email, an approval's `notify`); without it they refuse to. */
  mailer?: Mailer;
  /** Hears how each attempt ended (`swarm worker` prints a line per task). */
  onAttemptEnded?: WorkerOptions['onAttemptEnded'];
}

/**
 * A worker as the configuration describes it, with the runtimes this version has: builtin agents
 * in-process; node, python and binary agents in a ProcessSandbox, with working folders under
 * `<SWARM_HOME>/work/`; LLM agents through their owner's providers; granted secrets resolved
 * with the keyring. Says once, at start-up, how
 * agents' memory limits are enforced.
 */
export function createWorker(
  store: Store,
  engine: Engine,
  config: Config,
  logger: Logger,
  overrides: WorkerOverrides = {},
): Worker {
  // Process-wide: a standalone worker stores large outputs as blobs like the server does.
  configureBlobs(blobConfig(config));
  const sandbox = new ProcessSandbox({
    isolation: { mode: config.agentIsolation, uid: config.agentUid, gid: config.agentGid },
    ...overrides.sandbox,
  });
  logger.info(
    { memoryLimit: sandbox.mechanism, isolation: sandbox.isolation.kind },
    `agents run in a ${sandbox.describe()}`,
  );
  if (!sandbox.isolated)
    logger.warn(
      config.allowUnisolatedAgents
        ? "agent code is not isolated and SWARM_ALLOW_UNISOLATED_AGENTS=true: every owner's node, python and binary agents can read what this worker's user can"
        : 'agent code is not isolated: node, python and binary agents of admins only run here (SWARM_ALLOW_UNISOLATED_AGENTS=true runs everyone’s)',
    );
  const keyring = overrides.keyring ?? openKeyring(config, { warn: (message) => logger.warn(message) });
  const processes = new ProcessRuntime({
    home: config.home,
    sandbox,
    limits: { stdoutBytes: config.agentOutputMax, lineBytes: config.agentOutputMax },
    unisolated: {
      allow: config.allowUnisolatedAgents,
      trusted: async (ownerId) => (await store.system.findUserById(ownerId))?.role === 'admin',
    },
    // Persistent agents' warm processes: never more than the tasks this worker runs at once.
    warm: {
      maxProcesses: overrides.concurrency ?? config.workerConcurrency,
      onStopped: ({ id, ownerId, agent, reason, tasks }) =>
        logger.info(
          { process: id, ownerId, agent, reason, tasks },
          `warm agent process ${id} of ${agent} stopped (${reason}) after ${tasks} task(s)`,
        ),
    },
  });
  const secrets = new SecretsService(store, keyring);
  const httpPolicy = {
    allowPrivateNetworks: config.allowPrivateNetworks,
    timeoutMs: 30_000,
    maxResponseBytes: 5 * 1024 * 1024,
  };
  // Connectors are the task owner's: their secrets are read for that owner when a step uses one.
  const connectors = new ConnectorResolver(store, secrets);
  const builtin = new BuiltinRuntime({
    http: httpPolicy,
    // builtin/orchestrate resolves its agents' ranges like an LLM agent's tools.
    orchestration: { resolveAgent: storeLlmLookup(store).resolveAgent! },
    connectors,
    // SMTP hosts pass the same address guard as HTTP requests.
    mailer: overrides.mailer ?? new SmtpMailer(connectors, httpPolicy),
    // An approval's `notify` emails a signed link to it, under SWARM_PUBLIC_URL.
    approvalLinks: linkMaker(
      store.handle,
      keyring,
      overrides.publicUrl ?? (() => config.publicUrl ?? config.serverUrl),
    ),
    artifacts: new StoreArtifactSource(store, config.home),
  });
  const mcp =
    overrides.mcp ??
    createMcpPool({
      store,
      secrets,
      home: config.home,
      allowPrivateNetworks: config.allowPrivateNetworks,
      allowUnisolated: config.allowUnisolatedAgents,
      sandbox: () => sandbox,
    });
  const llm = createLlmRuntime({
    store,
    secrets,
    http: { allowPrivateNetworks: config.allowPrivateNetworks },
    allowedUrls: config.llmAllowedUrls,
    mcpTools: (ownerId, server) => mcp.listTools(ownerId, server),
  });
  return new Worker({
    store,
    engine,
    runtime: new DispatchRuntime({
      builtin,
      node: processes,
      python: processes,
      binary: processes,
      llm,
      mcp: new McpRuntime(mcp),
      http: new HttpAgentRuntime({
        signingKey: overrides.signingKey ?? openSigningKey(config),
        http: { allowPrivateNetworks: config.allowPrivateNetworks },
      }),
    }),
    events: new DatabaseEventSink(store),
    logger,
    secrets,
    // Artifacts over the inline limit go to files under <SWARM_HOME>/artifacts/.
    reports: { home: config.home },
    // Its warm processes and its own MCP connections end with it; a shared MCP pool is its
    // owner's to close.
    closeOnStop: overrides.mcp === undefined ? [processes, mcp] : [processes],
    concurrency: overrides.concurrency ?? config.workerConcurrency,
    leaseMs: overrides.leaseMs ?? config.leaseMs,
    maxLeaseLosses: config.maxLeaseLosses,
    maxChildTasksPerRun: config.maxChildTasksPerRun,
    trustThreshold: config.trustThreshold,
    agentSilentAfterSeconds: config.agentSilentAfterSeconds,
    ...(overrides.onAttemptEnded === undefined ? {} : { onAttemptEnded: overrides.onAttemptEnded }),
  });
}
