import { BUILTIN_AGENTS } from '../registry/index.js';
import type { Store } from '../storage/index.js';

export interface AgentRuntimeInfo {
  readonly name: string;
  readonly version: string;
  readonly runtime: { readonly type: string; readonly name?: string } & Record<string, unknown>;
  readonly timeoutSeconds: number;
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
      };
    } else if (version !== null) {
      const agent = await this.store.as({ userId: ownerId, role: 'member' }).agents.find(name, version);
      if (agent !== null) {
        info = {
          name,
          version,
          runtime: { type: agent.runtimeType, ...agent.runtimeConfig },
          timeoutSeconds: agent.timeoutSeconds,
        };
      }
    }
    this.cache.set(key, info);
    return info;
  }
}
