import type { Caller, Store } from '../storage/index.js';
import { AgentRegistry, insideAgentsDirs } from './agents.js';
import { WorkflowRegistry } from './workflows.js';

export interface RegistryOptions {
  /**
   * The folders node, python and binary agents may be registered from (SWARM_AGENTS_DIRS): a
   * `path` elsewhere is refused. Unset: any folder (in-process callers and tests only; the API
   * and `swarm start` always set it).
   */
  readonly agentsDirs?: readonly string[];
}

/** The registry of agents and workflows, one caller at a time. */
export class Registry {
  constructor(
    private readonly store: Store,
    private readonly options: RegistryOptions = {},
  ) {}

  /** Whether code may be registered from `folder` (always, when no agents folders are set). */
  async allowsCodeFrom(folder: string): Promise<boolean> {
    if (this.options.agentsDirs === undefined) return true;
    return insideAgentsDirs(folder, this.options.agentsDirs).then(
      () => true,
      () => false,
    );
  }

  as(caller: Caller): { agents: AgentRegistry; workflows: WorkflowRegistry } {
    const scoped = this.store.as(caller);
    const agents = new AgentRegistry(scoped, caller, this.options.agentsDirs);
    return { agents, workflows: new WorkflowRegistry(scoped, agents) };
  }
}
