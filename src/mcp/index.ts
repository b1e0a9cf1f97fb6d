/**
 * The MCP client: servers declared per owner (stdio programs started in the process sandbox,
 * streamable-HTTP URLs reached through the address guard), one pooled connection per owner and
 * server in each process, and the `mcp` runtime that runs a tool as a task of the virtual agent
 * `mcp/<server>/<tool>`. See docs/mcp-servers.md.
 */
import type { Sandbox } from '../runtimes/index.js';
import type { Store } from '../storage/index.js';
import { McpPool, type McpSecretSource } from './pool.js';

export { McpPool, type McpPoolOptions, type McpSecretSource } from './pool.js';
export { McpRuntime } from './runtime.js';
export { McpConnection, type McpTool } from './connection.js';
export { McpServerUnavailable, McpToolFailed } from './errors.js';
export { MCP_SERVER_MEMORY_MB, type StdioLaunchOptions } from './launch.js';
export { checkMcpServerInput, checkMcpServerName, secretNamesOf } from './server-input.js';
export { guardedFetch } from './guarded-fetch.js';

/** Largest response body (an event stream included) taken from an HTTP MCP server. */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

export interface McpPoolSettings {
  readonly store: Store;
  readonly secrets?: McpSecretSource;
  /** SWARM_HOME. */
  readonly home: string;
  /** SWARM_ALLOW_PRIVATE_NETWORKS. */
  readonly allowPrivateNetworks: boolean;
  /** SWARM_ALLOW_UNISOLATED_AGENTS: without isolation, everyone's stdio servers start, not only admins'. */
  readonly allowUnisolated: boolean;
  /** The process sandbox (the worker's); asked for when the first stdio server starts. */
  readonly sandbox: () => Sandbox;
}

/** A pool with a process's settings, trusting admins as the process runtime does. */
export function createMcpPool(settings: McpPoolSettings): McpPool {
  const { store } = settings;
  let sandbox: Sandbox | undefined;
  return new McpPool({
    store,
    ...(settings.secrets === undefined ? {} : { secrets: settings.secrets }),
    stdio: () => ({
      sandbox: (sandbox ??= settings.sandbox()),
      home: settings.home,
      unisolated: {
        allow: settings.allowUnisolated,
        trusted: async (ownerId) => (await store.system.findUserById(ownerId))?.role === 'admin',
      },
    }),
    http: {
      allowPrivateNetworks: settings.allowPrivateNetworks,
      timeoutMs: 30_000,
      maxResponseBytes: MAX_RESPONSE_BYTES,
    },
  });
}
