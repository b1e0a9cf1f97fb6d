import { BUILTIN_AGENTS } from '../registry/index.js';
import type { InvokedAgent } from '../runtimes/index.js';
import type { Store } from '../storage/index.js';

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

/** What a runtime is told about the agent it runs. */
export function invokedAgent(info: AgentRuntimeInfo): InvokedAgent {
  return {
    name: info.name,
    version: info.version,
    runtime: { ...info.runtime },
    folder: info.folder,
    memoryMb: info.memoryMb,
    permissions: info.permissions,
    inputSchema: info.inputSchema,
    outputSchema: info.outputSchema,
  };
}

/**
 * Finds the agent a task names (its owner's agent at the pinned version, or a builtin), once
 * per worker: a registered version never changes, so the answer can be kept.
 */
export class AgentLookup {
  private readonly cache = new Map<string, AgentRuntimeInfo | null>();

  constructor(private readonly store: Store) {}

  async find(ownerId: string, name: string, version: string | null): Promise<AgentRuntimeInfo | null> {
    const key = `${ownerId}\u0000${name}\u0000${version ?? ''}`;
    if (this.cache.has(key)) return this.cache.get(key)!;
    const builtin = BUILTIN_AGENTS.find(
      (m) => m.name === name && (version === null || m.version === version),
    );
    let info: AgentRuntimeInfo | null = null;
    if (builtin !== undefined) {
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
