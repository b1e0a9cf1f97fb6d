/**
 * The worker's one Runtime: picks the runtime for each agent's `runtime.type`. Types this version
 * cannot run yet (remote `http`, `llm`) fail at once with a clear, non-retryable error rather
 * than waiting for a runtime that is not there.
 */
import { RuntimeError } from './errors.js';
import type { AgentInvocation, Runtime, RuntimeContext } from './types.js';

const NOT_YET: Readonly<Record<string, string>> = {
  http: 'remote (http) agents are not available yet in this version of Swarm',
  llm: 'LLM agents are not available yet in this version of Swarm',
};

export class DispatchRuntime implements Runtime {
  private readonly byType: ReadonlyMap<string, Runtime>;

  /** `runtimes`: runtime type (builtin, node, python, binary…) → the runtime that runs it. */
  constructor(runtimes: Readonly<Record<string, Runtime>>) {
    this.byType = new Map(Object.entries(runtimes));
  }

  execute(invocation: AgentInvocation, context: RuntimeContext): Promise<unknown> {
    const type = invocation.agent.runtime.type;
    const runtime = this.byType.get(type);
    if (runtime === undefined) {
      const why = Object.hasOwn(NOT_YET, type) ? NOT_YET[type] : `no runtime runs "${type}" agents`;
      return Promise.reject(
        new RuntimeError('INTERNAL', `agent ${invocation.agent.name}@${invocation.agent.version}: ${why}`, {
          status: 501,
          retryable: false,
          context: { runtime: type },
        }),
      );
    }
    return runtime.execute(invocation, context);
  }
}
