/**
 * handoff: one active agent at a time, which answers or hands control to another agent of the
 * list with a reason and the context it chooses to pass. One child task per turn, so hand-offs
 * are serialised by construction; `max_handoffs` caps them, and `max_ping_pong` back-and-forths
 * between the same two agents (A→B→A is one) end the step with an error naming both.
 *
 * The active agent gets `{input, history: [last `window` messages], handoff: null | {from,
 * reason, context}}` and outputs `{handoff: {to, reason, context?}}` or its answer.
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
  windowOf,
  type Message,
  type OrchestrateInput,
  type OrchestrationDeps,
} from './turns.js';

interface HandoffState {
  readonly pattern: 'handoff';
  readonly active: number;
  readonly history: readonly Message[];
  readonly handoffs: number;
  /** Who was active, in order (names). */
  readonly path: readonly string[];
  readonly handoff: { readonly from: string; readonly reason: string; readonly context: unknown } | null;
  readonly phase: 'idle' | 'active';
  /** Consecutive hand-offs between the same two agents. */
  readonly pingPong: number;
}

const limit = (reason: string, message: string): RuntimeError =>
  new RuntimeError('HANDOFF_LIMIT', message, { retryable: false, context: { reason } });

export async function handoff(
  spec: OrchestrateInput,
  invocation: AgentInvocation,
  context: RuntimeContext,
  deps: OrchestrationDeps,
): Promise<unknown> {
  const agents = spec.agents ?? [];
  const names = agents.map(nameOf);
  const maxHandoffs = spec.max_handoffs ?? 10;
  const maxPingPong = spec.max_ping_pong ?? 3;
  let state: HandoffState = (invocation.resumeState as HandoffState | undefined) ?? {
    pattern: 'handoff',
    active: 0,
    history: [],
    handoffs: 0,
    path: [names[0]!],
    handoff: null,
    phase: 'idle',
    pingPong: 0,
  };
  const key = (s: HandoffState) => `turn-${s.path.length}`;

  if (state.phase === 'active') {
    const ended = await endedTurns(context, [key(state)]);
    if (ended === null) return new Sleep(recheck(), state);
    const child = ended.get(key(state))!;
    const from = names[state.active]!;
    if (child.status !== 'COMPLETED') throw turnFailed(child, `agent ${from} (turn ${state.path.length})`);
    const sender = speakerOf(child, from);
    const out = child.output;
    const meta = { pattern: 'handoff', turn: state.path.length };
    if (!(isObject(out) && isObject(out.handoff))) {
      const answer = isObject(out) && out.answer !== undefined ? out.answer : out;
      const history = [...state.history, { from, to: null, round: state.path.length, content: out }];
      await commit(context, { ...state, history, phase: 'idle' }, [
        entry(sender, null, 'response', out, meta),
      ]);
      return { answer, agent: from, handoffs: state.handoffs, path: state.path };
    }
    const h = out.handoff;
    const bad = (field: string, message: string) =>
      new RuntimeError('INPUT_INVALID', `${field}: ${message}`, {
        retryable: false,
        issues: [{ field, message }],
      });
    if (typeof h.to !== 'string' || !names.includes(h.to))
      throw bad(
        'output.handoff.to',
        `${JSON.stringify(h.to ?? null)} is not one of the agents (${names.join(', ')})`,
      );
    if (h.to === from) throw bad('output.handoff.to', `${from} cannot hand off to itself`);
    const reason = typeof h.reason === 'string' ? h.reason : '';
    const handoffs = state.handoffs + 1;
    if (handoffs > maxHandoffs)
      throw limit(
        'MAX_HANDOFFS',
        `${handoffs} hand-offs: at most ${maxHandoffs} (max_handoffs); last ${from} → ${h.to}`,
      );
    const previousFrom = state.path.at(-2);
    const pingPong = previousFrom === h.to ? state.pingPong + 1 : 1;
    if (pingPong >= 2 * maxPingPong)
      throw limit(
        'PING_PONG',
        `${from} and ${h.to} handed control back and forth ${maxPingPong} times (max_ping_pong): the step ends rather than loop`,
      );
    const content = { reason, context: h.context ?? null };
    state = {
      ...state,
      active: names.indexOf(h.to),
      history: [...state.history, { from, to: h.to, round: state.path.length, content }],
      handoffs,
      path: [...state.path, h.to],
      handoff: { from, reason, context: h.context ?? null },
      phase: 'idle',
      pingPong,
    };
    await commit(context, state, [
      entry(sender, h.to, 'request', content, { ...meta, handoff: true, reason }),
    ]);
  }
  const child = await turnRequest(
    deps,
    invocation,
    spec,
    { ref: agents[state.active]! },
    { input: spec.input ?? null, history: windowOf(state.history, spec.window), handoff: state.handoff },
    key(state),
    { turn: state.path.length, speaker: names[state.active] },
  );
  return new Sleep(recheck(), { ...state, phase: 'active' }, [child]);
}
