/**
 * The worker's one Runtime: picks the runtime for each agent's `runtime.type`. Types this version
 * cannot run yet fail at once with a clear, non-retryable error rather than waiting for a runtime
 * that is not there.
 *
 * The agent's declared input_schema and output_schema are checked here, for every runtime, so no
 * runtime can forget them (a user agent on a builtin runtime once skipped its own schemas): the
 * input because a step's input is resolved at run time from expressions the validator could not
 * evaluate, the output because it is what the next steps will read.
 */
import { schemaIssues } from '../registry/index.js';
import { RuntimeError } from './errors.js';
import { Sleep, type AgentInvocation, type Runtime, type RuntimeContext } from './types.js';

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
    const inputIssues = schemaIssues(invocation.agent.inputSchema, invocation.input, 'input');
    const [first, ...more] = inputIssues;
    if (first !== undefined)
      return Promise.reject(RuntimeError.invalidInput(first.field, first.message, more));
    return runtime.execute(invocation, context).then((output) => checkedOutput(invocation, output));
  }
}

function checkedOutput(invocation: AgentInvocation, output: unknown): unknown {
  // Not an output: the task carries on later (builtin/delay), and that attempt's output is checked.
  if (output instanceof Sleep) return output;
  const issues = schemaIssues(invocation.agent.outputSchema, output, 'output');
  const [first] = issues;
  if (first === undefined) return output;
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  // 502: the agent, not Swarm, failed; retrying the same agent gives the same shape.
  throw new RuntimeError(
    'INTERNAL',
    `${first.field}: ${first.message}${more}: the agent's output does not match its output_schema`,
    { status: 502, retryable: false, issues },
  );
}
