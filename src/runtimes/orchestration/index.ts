/**
 * builtin/orchestrate: the dynamic patterns (hierarchical, round_robin, selector, mesh, handoff)
 * as state machines over the task's `resume_state`. Each call looks at the state alone, collects
 * the turns it was waiting for, commits what they said, and starts the next turns as child tasks
 * in the same transaction as its sleep (Sleep.children). The task holds no worker while its
 * turns run; after a crash the next attempt carries on from the last commit.
 */
import type { AgentInvocation, RuntimeContext } from '../types.js';
import { conversation } from './conversation.js';
import { handoff } from './handoff.js';
import { hierarchical } from './hierarchical.js';
import type { OrchestrateInput, OrchestrationDeps } from './turns.js';

export type { OrchestrateInput, OrchestrationDeps } from './turns.js';

export function orchestrate(
  input: OrchestrateInput,
  invocation: AgentInvocation,
  context: RuntimeContext,
  deps: OrchestrationDeps,
): Promise<unknown> {
  switch (input.pattern) {
    case 'hierarchical':
      return hierarchical(input, invocation, context, deps);
    case 'handoff':
      return handoff(input, invocation, context, deps);
    default:
      return conversation(input, invocation, context, deps);
  }
}
