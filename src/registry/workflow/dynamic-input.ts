import type { DynamicSpec } from './dynamic-source.js';
import { refText } from './refs.js';
import type { SourceStep } from './source.js';

/**
 * The input of a dynamic pattern's one step: what builtin/orchestrate needs to run it, as plain
 * JSON (agents as `name@range`, resolved to a version when each turn starts), with the step's
 * input mapping as written under `input`: the engine resolves its templates like any step's.
 * Only the settings of the step's own pattern are sent. The members' retries and timeout are the
 * step's, so each turn is retried as a step of its own would be.
 */
export function dynamicInput(step: SourceStep, spec: DynamicSpec): Record<string, unknown> {
  const child = {
    max_retries: step.retry.max_attempts - 1,
    ...(step.timeout_seconds === undefined ? {} : { timeout_seconds: step.timeout_seconds }),
  };
  const agents = step.members.map((m) => refText(m.value));
  switch (spec.pattern) {
    case 'hierarchical':
      return {
        pattern: 'hierarchical',
        input: step.input,
        coordinator: spec.coordinator ? refText(spec.coordinator.value) : '',
        pool: spec.pool.map((p) =>
          p.capability
            ? { capability: p.capability.value, routing: p.routing }
            : { agent: refText(p.agent!.value), ...(p.delegates ? { delegates: true } : {}) },
        ),
        max_rounds: spec.maxRounds,
        max_subtasks: spec.maxSubtasks,
        max_depth: spec.maxDepth,
        depth: 0,
        allow_self_delegation: spec.allowSelfDelegation,
        ...child,
      };
    case 'handoff':
      return {
        pattern: 'handoff',
        input: step.input,
        agents,
        max_handoffs: spec.maxHandoffs,
        max_ping_pong: spec.maxPingPong,
        window: spec.window,
        ...child,
      };
    default:
      return {
        pattern: spec.pattern,
        input: step.input,
        agents,
        max_rounds: spec.maxRounds,
        window: spec.window,
        ...(spec.until ? { until: spec.until.value } : {}),
        ...(spec.selector?.agent ? { selector: { agent: refText(spec.selector.agent.value) } } : {}),
        ...(spec.selector?.expression ? { selector: { expression: spec.selector.expression.value } } : {}),
        ...child,
      };
  }
}
