import type { ClaimedTask } from '../queue/index.js';
import { BUILTIN_AGENTS, MCP_AGENT_VERSION, parseMcpAgentName } from '../registry/index.js';
import { chooseAgent } from '../routing/index.js';
import type { InvokedAgent } from '../runtimes/index.js';
import type { Store } from '../storage/index.js';

/** How long one MCP tool call may take when its step says nothing (timeout_seconds). */
export const MCP_TOOL_TIMEOUT_SECONDS = 300;

export interface AgentRuntimeInfo {
  readonly name: string;
  readonly version: string;
  readonly runtime: { readonly type: string; readonly name?: string } & Record<string, unknown>;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  readonly permissions: readonly string[];
  readonly inputSchema?: unknown;
  readonly outputSchema?: unknown;
  /**
   * The code folder of a node, python or binary agent: the absolute path of the manifest's folder,
   * recorded when the agent was registered from disk (`agents.path`). Null otherwise.
   */
  readonly folder: string | null;
}

/**
 * What a runtime is told about the agent it runs: one frozen object per agent found (AgentLookup
 * keeps them), not a copy per task.
 */
export function invokedAgent(info: AgentRuntimeInfo): InvokedAgent {
  let invoked = INVOKED.get(info);
  if (invoked === undefined) {
    invoked = Object.freeze({
      name: info.name,
      version: info.version,
      runtime: Object.freeze({ ...info.runtime }),
      folder: info.folder,
      memoryMb: info.memoryMb,
      permissions: info.permissions,
      inputSchema: info.inputSchema,
      outputSchema: info.outputSchema,
    });
    INVOKED.set(info, invoked);
  }
  return invoked;
}

const INVOKED = new WeakMap<AgentRuntimeInfo, InvokedAgent>();

/**
 * Finds the agent a task names (its owner's agent at the pinned version, or a builtin), once
 * per worker: a registered version never changes, so the answer can be kept.
 */
export class AgentLookup {
  private readonly cache = new Map<string, AgentRuntimeInfo | null>();

  constructor(
    private readonly store: Store,
    private readonly routing: { readonly trustThreshold?: number } = {},
  ) {}

  /**
   * The agent that runs this attempt: the one the task names, or for a capability task the one
   * routing chooses now (recorded as the task's `assigned_agent_id`). An error says why none
   * runs; no eligible agent is retryable, so the task retries by its policy.
   */
  async forTask(
    task: ClaimedTask,
  ): Promise<{ agent: AgentRuntimeInfo } | { error: string; retryable: boolean }> {
    if (task.agent !== null) {
      const agent = await this.find(task.ownerId, task.agent.name, task.agent.version);
      return agent !== null
        ? { agent }
        : { error: `agent ${task.agent.name}@${task.agent.version ?? '?'} not found`, retryable: false };
    }
    if (task.capability === null)
      return { error: 'the task names neither an agent nor a capability', retryable: false };
    const routed = await chooseAgent(this.store.handle, {
      ownerId: task.ownerId,
      capability: task.capability,
      task: { id: task.id, leaseEpoch: task.leaseEpoch },
      ...(this.routing.trustThreshold === undefined ? {} : { trustThreshold: this.routing.trustThreshold }),
    });
    if (routed.kind === 'lost') return { error: 'lease lost while routing', retryable: true };
    if (routed.kind === 'none') return { error: routed.reason, retryable: true };
    const agent = await this.find(task.ownerId, routed.agent.name, routed.agent.version);
    return agent !== null
      ? { agent }
      : { error: `agent ${routed.agent.name}@${routed.agent.version} not found`, retryable: true };
  }

  async find(ownerId: string, name: string, version: string | null): Promise<AgentRuntimeInfo | null> {
    const key = `${ownerId}\u0000${name}\u0000${version ?? ''}`;
    if (this.cache.has(key)) return this.cache.get(key)!;
    const builtin = BUILTIN_AGENTS.find(
      (m) => m.name === name && (version === null || m.version === version),
    );
    let info: AgentRuntimeInfo | null = null;
    // `mcp/<server>/<tool>`: the owner's MCP server's tool. Whether the server is declared (and
    // still has the tool) is the mcp runtime's to say at each call: a definition can change.
    const mcp = parseMcpAgentName(name);
    if (mcp !== null) {
      if (version === null || version === MCP_AGENT_VERSION)
        info = {
          name,
          version: MCP_AGENT_VERSION,
          runtime: { type: 'mcp', server: mcp.server, tool: mcp.tool },
          timeoutSeconds: MCP_TOOL_TIMEOUT_SECONDS,
          // Memory is the server program's (src/mcp/launch.ts), not one call's.
          memoryMb: 0,
          permissions: [],
          folder: null,
        };
    } else if (builtin !== undefined) {
      info = {
        name,
        version: builtin.version,
        runtime: { ...builtin.runtime },
        timeoutSeconds: builtin.resources.timeout_seconds,
        memoryMb: builtin.resources.memory_mb,
        permissions: builtin.permissions,
        // The builtin runtime checks its own schemas.
        folder: null,
      };
    } else if (version !== null) {
      const agent = await this.store.as({ userId: ownerId, role: 'member' }).agents.find(name, version);
      if (agent !== null) {
        info = {
          name,
          version,
          runtime: { type: agent.runtimeType, ...agent.runtimeConfig },
          timeoutSeconds: agent.timeoutSeconds,
          memoryMb: agent.memoryMb,
          permissions: agent.permissions,
          inputSchema: agent.inputSchema ?? undefined,
          outputSchema: agent.outputSchema ?? undefined,
          folder: agent.path,
        };
      }
    }
    this.cache.set(key, info);
    return info;
  }
}
