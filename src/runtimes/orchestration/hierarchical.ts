/**
 * hierarchical: the coordinator plans, Swarm delegates, the coordinator sees the results and
 * plans again, until it answers or a cap ends the step. Each coordinator call and each subtask
 * is a child task; the state (every subtask's result so far) is committed after each phase, so
 * an attempt resuming after a crash starts only what the last commit had not started.
 *
 * The coordinator gets `{input, round, depth, results: [{round, to, input, status, output?,
 * error?}], pool: [names]}` and answers `{subtasks: [{to, input}], done?, answer?}`.
 */
import { RuntimeError } from '../errors.js';
import { Sleep, type AgentInvocation, type RuntimeContext } from '../types.js';
import {
  commit,
  endedTurns,
  entry,
  isObject,
  nameOf,
  recheck,
  speakerOf,
  turnFailed,
  turnRequest,
  type OrchestrateInput,
  type OrchestrationDeps,
  type PoolMember,
  type Target,
} from './turns.js';

interface Result {
  readonly round: number;
  readonly to: string;
  readonly input: unknown;
  readonly status: string;
  readonly output?: unknown;
  readonly error?: string;
}

interface Subtask {
  readonly to: string;
  readonly input: unknown;
}

interface HierarchicalState {
  readonly pattern: 'hierarchical';
  /** Coordinator calls made. */
  readonly round: number;
  readonly results: readonly Result[];
  /** The plan whose subtasks are to start (`planned`) or running (`working`). */
  readonly plan: readonly Subtask[] | null;
  readonly phase: 'idle' | 'planning' | 'planned' | 'working';
}

const limit = (reason: string, message: string): RuntimeError =>
  new RuntimeError('DELEGATION_LIMIT', message, { retryable: false, context: { reason } });

const memberName = (m: PoolMember): string => (m.agent !== undefined ? nameOf(m.agent) : m.capability!);

/** The plan, checked: a bad one fails the step with the field that is wrong. */
function readPlan(
  output: unknown,
  spec: OrchestrateInput,
  coordinator: string,
): { subtasks: Subtask[]; answer?: unknown } {
  const bad = (field: string, message: string) =>
    new RuntimeError('INPUT_INVALID', `${field}: ${message}`, {
      retryable: false,
      issues: [{ field, message }],
    });
  if (!isObject(output))
    throw bad('output', 'the coordinator must answer {subtasks: [{to, input}], done?, answer?}');
  const answered = output.done === true || output.answer !== undefined;
  if (output.subtasks !== undefined && !Array.isArray(output.subtasks))
    throw bad('output.subtasks', 'must be a list of {to, input}');
  const list = (output.subtasks as unknown[] | undefined) ?? [];
  if (list.length === 0) {
    if (!answered) throw bad('output', 'plans no subtasks and gives no answer (done: true or answer)');
    return { subtasks: [], answer: output.answer ?? null };
  }
  if (output.done === true) throw bad('output.done', 'is true but the plan has subtasks');
  const pool = (spec.pool ?? []).map(memberName);
  const subtasks = list.map((raw, i): Subtask => {
    const at = `output.subtasks[${i}]`;
    if (!isObject(raw)) throw bad(at, 'must be {to, input}');
    if (typeof raw.to !== 'string') throw bad(`${at}.to`, 'must be the name of a pool member');
    if (raw.to === coordinator && spec.allow_self_delegation !== true)
      throw bad(
        `${at}.to`,
        `"${raw.to}" is the coordinator: it may not delegate to itself (allow_self_delegation)`,
      );
    if (!pool.includes(raw.to) && !(raw.to === coordinator && spec.allow_self_delegation === true))
      throw bad(`${at}.to`, `"${raw.to}" is not in the pool (${pool.join(', ')})`);
    return { to: raw.to, input: raw.input ?? null };
  });
  return { subtasks };
}

/** Where a subtask goes: a pool agent, a nested coordinator (below max_depth), or a capability. */
function targetOf(subtask: Subtask, spec: OrchestrateInput): Target {
  const depth = spec.depth ?? 0;
  const member = (spec.pool ?? []).find((m) => memberName(m) === subtask.to);
  if (member === undefined) return { ref: spec.coordinator! }; // self-delegation, allowed
  if (member.capability !== undefined)
    return {
      capability: member.capability,
      ...(member.routing === undefined ? {} : { routing: member.routing }),
    };
  if (member.delegates === true && depth + 1 < (spec.max_depth ?? 2))
    return {
      orchestrate: { ...spec, coordinator: member.agent!, input: subtask.input, depth: depth + 1 },
    };
  return { ref: member.agent! };
}

export async function hierarchical(
  spec: OrchestrateInput,
  invocation: AgentInvocation,
  context: RuntimeContext,
  deps: OrchestrationDeps,
): Promise<unknown> {
  const coordinator = nameOf(spec.coordinator ?? '');
  const maxRounds = spec.max_rounds ?? 5;
  const maxSubtasks = spec.max_subtasks ?? 20;
  let state: HierarchicalState = (invocation.resumeState as HierarchicalState | undefined) ?? {
    pattern: 'hierarchical',
    round: 0,
    results: [],
    plan: null,
    phase: 'idle',
  };
  const meta = { pattern: 'hierarchical', depth: spec.depth ?? 0 };
  const planKey = (round: number) => `plan-${round}`;
  const taskKey = (round: number, i: number) => `r${round}-s${i + 1}`;

  if (state.phase === 'planning') {
    const ended = await endedTurns(context, [planKey(state.round)]);
    if (ended === null) return new Sleep(recheck(), state);
    const child = ended.get(planKey(state.round))!;
    if (child.status !== 'COMPLETED')
      throw turnFailed(child, `the coordinator ${coordinator} (round ${state.round})`);
    const plan = readPlan(child.output, spec, coordinator);
    const sender = speakerOf(child, coordinator);
    const record = entry(sender, null, 'response', child.output, {
      ...meta,
      round: state.round,
      turn: state.round,
      plan: true,
    });
    if (plan.subtasks.length === 0) {
      await commit(context, { ...state, phase: 'idle' }, [record]);
      return {
        answer: plan.answer,
        rounds: state.round,
        subtasks: state.results.length,
        stop_reason: 'answer',
      };
    }
    if (state.round >= maxRounds)
      throw limit(
        'MAX_ROUNDS',
        `the coordinator ${coordinator} still delegates after ${maxRounds} rounds (max_rounds)`,
      );
    if (state.results.length + plan.subtasks.length > maxSubtasks)
      throw limit(
        'MAX_SUBTASKS',
        `round ${state.round} plans ${plan.subtasks.length} subtasks after ${state.results.length}: at most ${maxSubtasks} (max_subtasks)`,
      );
    state = { ...state, plan: plan.subtasks, phase: 'planned' };
    await commit(context, state, [record]);
  } else if (state.phase === 'working') {
    const plan = state.plan ?? [];
    const keys = plan.map((_, i) => taskKey(state.round, i));
    const ended = await endedTurns(context, keys);
    if (ended === null) return new Sleep(recheck(), state);
    const results = plan.map((s, i): Result => {
      const child = ended.get(keys[i]!)!;
      return {
        round: state.round,
        to: s.to,
        input: s.input,
        status: child.status,
        ...(child.status === 'COMPLETED' ? { output: child.output } : { error: child.error ?? child.status }),
      };
    });
    const records = results.map((r, i) =>
      entry(
        speakerOf(ended.get(keys[i]!)!, r.to),
        coordinator,
        r.status === 'COMPLETED' ? 'response' : 'error',
        r.output ?? { error: r.error },
        {
          ...meta,
          round: state.round,
          turn: state.round,
          subtask: i + 1,
        },
      ),
    );
    state = { ...state, results: [...state.results, ...results], plan: null, phase: 'idle' };
    await commit(context, state, records);
  }

  if (state.phase === 'planned') {
    const plan = state.plan ?? [];
    const children = await Promise.all(
      plan.map((s, i) =>
        turnRequest(deps, invocation, spec, targetOf(s, spec), s.input, taskKey(state.round, i), {
          round: state.round,
          to: s.to,
        }),
      ),
    );
    const next: HierarchicalState = { ...state, phase: 'working' };
    return new Sleep(recheck(), next, children);
  }
  // idle: the coordinator's next call.
  const round = state.round + 1;
  const input = {
    input: spec.input ?? null,
    round,
    depth: spec.depth ?? 0,
    results: state.results,
    pool: (spec.pool ?? []).map(memberName),
  };
  const child = await turnRequest(
    deps,
    invocation,
    spec,
    { ref: spec.coordinator ?? '' },
    input,
    planKey(round),
    {
      round,
      role: 'coordinator',
    },
  );
  return new Sleep(recheck(), { ...state, round, phase: 'planning' }, [child]);
}
