/**
 * Conversations: round_robin (turns in order), selector (the next speaker chosen by an agent or
 * a JSONata expression) and mesh (every agent each round, in parallel, hearing all earlier
 * rounds). Every message is delivered — the next speaker's input carries the transcript — and
 * stored in `messages` in the commit that ends its turn. A conversation stops on `until`, on a
 * speaker's `{done: true}`, on `max_rounds`, or when a speaker's budget runs out.
 *
 * A speaker gets `{input, round, speaker, transcript: [last `window` messages], previous}`.
 */
import { Expression } from '../../expressions/index.js';
import { RuntimeError } from '../errors.js';
import { Sleep, type AgentInvocation, type ChildTaskOutcome, type RuntimeContext } from '../types.js';
import {
  commit,
  endedTurns,
  entry,
  isBudgetFailure,
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

interface ConversationState {
  readonly pattern: 'round_robin' | 'selector' | 'mesh';
  readonly transcript: readonly Message[];
  /** Turns taken (a mesh round is as many turns as agents). */
  readonly turns: number;
  /** Rounds completed. */
  readonly round: number;
  /** Index in `agents` of who speaks next (round_robin, selector). */
  readonly next: number;
  readonly phase: 'idle' | 'speaking' | 'selecting';
  readonly stop: string | null;
}

function output(state: ConversationState, agents: readonly string[]): unknown {
  const last = state.transcript.at(-1);
  return {
    final: last?.content ?? null,
    last_speaker: last?.from ?? null,
    rounds: state.round,
    turns: state.turns,
    stop_reason: state.stop ?? 'max_rounds',
    agents: agents.map(nameOf),
  };
}

async function untilHolds(spec: OrchestrateInput, state: ConversationState): Promise<boolean> {
  if (spec.until === undefined) return false;
  const value = await new Expression(spec.until).evaluate({
    last: state.transcript.at(-1) ?? null,
    transcript: state.transcript,
    round: state.round,
  });
  return value !== undefined && value !== null && value !== false && value !== 0 && value !== '';
}

const isDone = (content: unknown): boolean => isObject(content) && content.done === true;

export async function conversation(
  spec: OrchestrateInput,
  invocation: AgentInvocation,
  context: RuntimeContext,
  deps: OrchestrationDeps,
): Promise<unknown> {
  const agents = spec.agents ?? [];
  const names = agents.map(nameOf);
  const pattern = spec.pattern as ConversationState['pattern'];
  const maxRounds = spec.max_rounds ?? (pattern === 'mesh' ? 3 : 10);
  let state: ConversationState = (invocation.resumeState as ConversationState | undefined) ?? {
    pattern,
    transcript: [],
    turns: 0,
    round: 0,
    next: 0,
    phase: 'idle',
    stop: null,
  };
  const meta = { pattern };
  const turnKey = (turn: number, who: number) =>
    pattern === 'mesh' ? `round-${turn}-a${who + 1}` : `turn-${turn}`;

  if (state.phase === 'speaking') {
    const speakers = pattern === 'mesh' ? names.map((_, i) => i) : [state.next];
    const keys = speakers.map((i) => turnKey(pattern === 'mesh' ? state.round + 1 : state.turns + 1, i));
    const ended = await endedTurns(context, keys);
    if (ended === null) return new Sleep(recheck(), state);
    const round =
      pattern === 'mesh'
        ? state.round + 1
        : Math.floor(state.turns / (pattern === 'selector' ? 1 : names.length)) + 1;
    const heard: Message[] = [];
    const records = [];
    let stop: string | null = null;
    for (const [k, i] of speakers.entries()) {
      const child: ChildTaskOutcome = ended.get(keys[k]!)!;
      if (isBudgetFailure(child)) {
        stop = 'budget';
        continue;
      }
      if (child.status !== 'COMPLETED') throw turnFailed(child, `speaker ${names[i]} (round ${round})`);
      const to = pattern === 'round_robin' ? names[(i + 1) % names.length]! : null;
      heard.push({ from: names[i]!, to, round, content: child.output });
      records.push(
        entry(speakerOf(child, names[i]!), to, pattern === 'mesh' ? 'broadcast' : 'response', child.output, {
          ...meta,
          round,
          turn: state.turns + k + 1,
        }),
      );
      if (isDone(child.output)) stop = 'done';
    }
    const turns = state.turns + speakers.length;
    const roundsDone =
      pattern === 'mesh' ? round : pattern === 'selector' ? turns : Math.floor(turns / names.length);
    state = {
      ...state,
      transcript: [...state.transcript, ...heard],
      turns,
      round: roundsDone,
      next: pattern === 'round_robin' ? (state.next + 1) % names.length : state.next,
      phase: 'idle',
    };
    if (stop === null && (await untilHolds(spec, state))) stop = 'until';
    if (stop === null && roundsDone >= maxRounds && (pattern !== 'round_robin' || turns % names.length === 0))
      stop = 'max_rounds';
    state = { ...state, stop };
    await commit(context, state, records);
    if (stop !== null) return output(state, agents);
    // The selector picks the next speaker after every turn.
    if (pattern === 'selector') state = { ...state, phase: 'selecting' };
  } else if (state.phase === 'selecting' && spec.selector?.agent !== undefined) {
    const key = `select-${state.turns}`;
    const ended = await endedTurns(context, [key]);
    if (ended === null) return new Sleep(recheck(), state);
    const child = ended.get(key)!;
    if (child.status !== 'COMPLETED') throw turnFailed(child, `the selector ${nameOf(spec.selector.agent)}`);
    const next = isObject(child.output) ? child.output.next : undefined;
    state = { ...state, next: pickIndex(next, names, 'the selector agent'), phase: 'idle' };
    await commit(context, state, []);
  }
  if (state.phase === 'selecting' && spec.selector?.expression !== undefined) {
    // Decided here and now: nothing to wait for, and the next commit (the sleep) keeps it.
    const picked = await new Expression(spec.selector.expression).evaluate({
      transcript: state.transcript,
      last: state.transcript.at(-1) ?? null,
      candidates: names,
      round: state.turns + 1,
    });
    state = { ...state, next: pickIndex(picked, names, 'selector.expression'), phase: 'idle' };
  }

  if (state.phase === 'selecting') {
    // An agent selector: its own child task, given the transcript.
    const child = await turnRequest(
      deps,
      invocation,
      spec,
      { ref: spec.selector!.agent! },
      { transcript: windowOf(state.transcript, spec.window), candidates: names, round: state.turns + 1 },
      `select-${state.turns}`,
      { role: 'selector', round: state.turns + 1 },
    );
    return new Sleep(recheck(), state, [child]);
  }
  const speakers = pattern === 'mesh' ? names.map((_, i) => i) : [state.next];
  const round = pattern === 'round_robin' ? Math.floor(state.turns / names.length) + 1 : state.round + 1;
  const previous = state.transcript.at(-1)?.content ?? null;
  const children = await Promise.all(
    speakers.map((i) =>
      turnRequest(
        deps,
        invocation,
        spec,
        { ref: agents[i]! },
        {
          input: spec.input ?? null,
          round,
          speaker: names[i],
          // Mesh speakers hear every earlier round, not each other's words of this one.
          transcript: windowOf(state.transcript, spec.window),
          previous,
        },
        turnKey(pattern === 'mesh' ? round : state.turns + 1, i),
        { round, speaker: names[i] },
      ),
    ),
  );
  return new Sleep(recheck(), { ...state, phase: 'speaking' }, children);
}

function pickIndex(value: unknown, names: readonly string[], who: string): number {
  const index = typeof value === 'string' ? names.indexOf(value) : -1;
  if (index < 0)
    throw new RuntimeError(
      'INPUT_INVALID',
      `${who} chose ${JSON.stringify(value ?? null)}, which is not one of the speakers (${names.join(', ')})`,
      { retryable: false },
    );
  return index;
}
