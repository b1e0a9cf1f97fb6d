import type { Caller, Store } from '../storage/index.js';
import { AgentRegistry } from './agents.js';
import { WorkflowRegistry } from './workflows.js';

/** The registry of agents and workflows, one caller at a time. */
export class Registry {
  constructor(private readonly store: Store) {}

  as(caller: Caller): { agents: AgentRegistry; workflows: WorkflowRegistry } {
    const scoped = this.store.as(caller);
    const agents = new AgentRegistry(scoped);
    return { agents, workflows: new WorkflowRegistry(scoped, agents) };
  }
}
