/**
 * The agent loop of an `llm` agent with `tools`: model call → the tool calls it asks for, each a
 * child task of the step's task (durable, retried, routed and leased like any task; parallel
 * calls run in parallel) → their results appended → the next model call, until the model
 * answers without tools (checked against output_schema), or a limit ends it.
 *
 * Durability: every model reply is checkpointed as it arrives — the conversation so far becomes
 * the task's `resume_state` and the new turns its conversation record (`messages`), in one
 * commit (RuntimeContext.checkpoint). The tool calls a reply asks for are then committed together
 * with the sleep that waits for them (one transaction), and the worker's slot is free while the
 * tools run; the last child to end wakes the task, on any worker. What the loop does next is
 * decided by the conversation's last turn alone, so an attempt that resumes after a crash at any
 * point carries on from the last commit: no completed model call or tool call is made again —
 * only the call that was in flight.
 */
import { RuntimeError } from '../errors.js';
import type {
  AgentInvocation,
  ChildTaskOutcome,
  ChildTaskRequest,
  ConversationEntry,
  RuntimeContext,
} from '../types.js';
import { Sleep } from '../types.js';
import { askFor, askRequest, NO_ASKS, settleAsk, type BudgetPolicy, type BudgetState } from './budget-ask.js';
import { ProviderWait, type BudgetRaises } from './spending.js';
import type { ModelCallInfo, ToolCall, ToolResult, ToolSpec, Turn } from './tool-wire.js';

/** A tool as the loop runs it: what the model sees, and the task that answers a call. */
export interface LoopTool extends ToolSpec {
  readonly target:
    | { readonly agentName: string; readonly agentVersion: string }
    | { readonly capability: string; readonly routing?: ChildTaskRequest['routing'] };
}

/** What a loop leaves between its attempts (the task's `resume_state`). */
export interface LoopState {
  readonly loop: 1;
  readonly tools: readonly LoopTool[];
  readonly turns: readonly Turn[];
  readonly modelCalls: number;
  readonly toolCalls: number;
  readonly outputRetries: number;
  /** The calls whose child tasks are running (their ids are the children's `metadata.call_id`). */
  readonly pending: readonly { readonly callId: string; readonly name: string }[] | null;
  /** Calls of the same model reply answered without a task (unknown tool, arguments not JSON). */
  readonly answered: readonly ToolResult[];
  /** How many of `turns` the conversation record holds (absent in states saved before it). */
  readonly recorded?: number;
  /** Sleeps in a row waiting for the providers' rate limits (reset by a call made). */
  readonly waits?: number;
  /** on_budget: ask — the asks made, the raises approved, the ask awaited (absent before any). */
  readonly budget?: BudgetState;
}

export interface LoopLimits {
  readonly maxTurns: number;
  readonly maxToolCalls: number;
  readonly repeatLimit: number;
  readonly outputRetries: number;
}

export const DEFAULT_LOOP_LIMITS: LoopLimits = {
  maxTurns: 10,
  maxToolCalls: 50,
  repeatLimit: 3,
  outputRetries: 2,
};
/** A sleeping loop re-checks its children this often even if no ending woke it. */
export const RECHECK_MS = 60_000;
/** Rate-limit waits in a row before the step fails: a provider that never lets a call through. */
const MAX_WAITS = 50;
/** The most of one tool result the model is shown. */
const MAX_RESULT_CHARS = 20_000;

export interface LoopDeps {
  /**
   * One model call with the conversation and the tools; `callIndex` counts from 1. `raises` is
   * what approvals added to the step's and run's budgets for this task.
   */
  callModel(
    turns: readonly Turn[],
    tools: readonly ToolSpec[],
    callIndex: number,
    raises: BudgetRaises,
  ): Promise<{ text: string; toolCalls: ToolCall[]; call: ModelCallInfo }>;
  /** The final answer as the step's output; throws RuntimeError INVALID_INPUT when it does not fit. */
  output(text: string): unknown;
  /** The tools, resolved when the loop starts (and then kept in its state). */
  resolveTools(): Promise<LoopTool[]>;
  /** The conversation's first turns, from the step's input. */
  initialTurns(): Turn[];
  /** The system prompt, for the record (the model gets it with each call). */
  system: string | undefined;
  /** The agent as name@version: who speaks the assistant turns in the record. */
  speaker: string;
  limits: LoopLimits;
  /** What a budget refusal does (on_budget); absent: it fails the step. */
  budget?: BudgetPolicy;
  now?: () => number;
}

export function isLoopState(value: unknown): value is LoopState {
  return typeof value === 'object' && value !== null && (value as { loop?: unknown }).loop === 1;
}

export async function runLoop(
  deps: LoopDeps,
  invocation: AgentInvocation,
  context: RuntimeContext,
): Promise<unknown> {
  const now = deps.now ?? Date.now;
  let state: LoopState = isLoopState(invocation.resumeState)
    ? invocation.resumeState
    : {
        loop: 1,
        tools: await deps.resolveTools(),
        turns: deps.initialTurns(),
        modelCalls: 0,
        toolCalls: 0,
        outputRetries: 0,
        pending: null,
        answered: [],
        recorded: 0,
      };

  // Woken from a budget ask: approved carries on with the raise; rejected or timed out throws.
  const asking = state.budget?.asking;
  if (asking != null) {
    const settled = await settleAsk(state.budget!, context);
    if (settled.waiting) {
      const { until, request } = askRequest(asking);
      return new Sleep(until, state, [], request);
    }
    state = { ...state, budget: settled.budget };
  }

  if (state.pending !== null) {
    if (context.childTasks === undefined) throw new Error('the worker gives this runtime no child tasks');
    const children = await context.childTasks();
    const byCall = new Map<string, ChildTaskOutcome>();
    for (const child of children) {
      const callId = (child.metadata as { call_id?: unknown } | null)?.call_id;
      if (typeof callId === 'string') byCall.set(callId, child);
    }
    const waiting = state.pending.filter((p) => byCall.get(p.callId)?.finished !== true);
    // Woken by the re-check, not by the last child: sleep on.
    if (waiting.length > 0) return new Sleep(new Date(now() + RECHECK_MS), state);
    const answered = new Map(state.answered.map((r) => [r.callId, r]));
    const asked = lastToolCalls(state.turns);
    const results = asked.flatMap((call) => {
      const done = answered.get(call.id);
      if (done !== undefined) return [done];
      const child = byCall.get(call.id);
      return child === undefined ? [] : [resultOf({ callId: call.id, name: call.name }, child)];
    });
    context.log(
      'info',
      `tool results: ${results.map((r) => `${r.name} ${r.isError ? 'failed' : 'ok'}`).join(', ')}`,
    );
    state = { ...state, turns: [...state.turns, { role: 'tool', results }], pending: null, answered: [] };
  }

  for (;;) {
    context.signal.throwIfAborted();
    const last = state.turns.at(-1);

    // A final answer: fresh, or checkpointed by an attempt that died before completing.
    if (last?.role === 'assistant' && (last.toolCalls ?? []).length === 0) {
      try {
        return deps.output(last.content);
      } catch (error) {
        if (!(error instanceof RuntimeError) || state.outputRetries >= deps.limits.outputRetries) throw error;
        // The model gets to fix its answer: the validation error is its next user turn.
        context.log('warning', `final answer rejected (${error.message}); asking the model again`);
        state = {
          ...state,
          outputRetries: state.outputRetries + 1,
          turns: [
            ...state.turns,
            {
              role: 'user',
              content: `Your answer was rejected: ${error.message}. Answer again, fixing that.`,
            },
          ],
        };
        continue;
      }
    }

    // Tool calls the model asked for, not started yet.
    if (last?.role === 'assistant') {
      const asked = last.toolCalls ?? [];
      const toolCalls = state.toolCalls + asked.length;
      if (toolCalls > deps.limits.maxToolCalls)
        throw loopError(
          'MAX_TOOL_CALLS',
          `the agent loop asked for more than max_tool_calls (${deps.limits.maxToolCalls}) tool calls`,
        );
      const repeated = repeatedCall(state.turns, deps.limits.repeatLimit);
      if (repeated !== null)
        throw loopError(
          'LOOP_DETECTED',
          `the model called ${repeated} with the same arguments ${deps.limits.repeatLimit} times in a row; the loop was stopped`,
        );
      state = { ...state, toolCalls };
      const { immediate, children, pending } = plannedCalls(state, asked);
      if (children.length === 0) {
        state = { ...state, turns: [...state.turns, { role: 'tool', results: immediate }] };
        continue;
      }
      context.log(
        'info',
        `model call ${state.modelCalls}: ${children.length} tool call(s): ${pending.map((p) => p.name).join(', ')}`,
      );
      return new Sleep(new Date(now() + RECHECK_MS), { ...state, pending, answered: immediate }, children);
    }

    // The model's turn.
    if (state.modelCalls >= deps.limits.maxTurns) {
      await checkpoint(state, deps, context);
      throw loopError(
        'MAX_TURNS',
        `the agent loop reached max_turns (${deps.limits.maxTurns}) without a final answer`,
      );
    }
    let reply: Awaited<ReturnType<LoopDeps['callModel']>>;
    try {
      reply = await deps.callModel(
        state.turns,
        state.tools,
        state.modelCalls + 1,
        state.budget?.raises ?? {},
      );
    } catch (error) {
      const asked = askFor(error, deps.budget, state.budget ?? NO_ASKS, context, now());
      if (asked?.asking != null) {
        // The task sleeps holding its conversation; the resumed attempt carries on from it.
        context.log(
          'info',
          `model call ${state.modelCalls + 1}: ${(error as Error).message}; asking the run's owner whether to continue (${asked.asking.key})`,
        );
        const { until, request } = askRequest(asked.asking);
        return new Sleep(until, { ...state, budget: asked }, [], request);
      }
      if (!(error instanceof ProviderWait)) throw error;
      // Rate limited: the task sleeps until then, holding no worker and spending no attempt.
      const waits = (state.waits ?? 0) + 1;
      if (waits > MAX_WAITS)
        throw RuntimeError.unreachable(
          `the model call waited ${MAX_WAITS} times in a row for its providers' rate limits (${error.why}); giving up`,
          { retryable: false },
        );
      context.log(
        'info',
        `model call ${state.modelCalls + 1} waits until ${error.until.toISOString()}: ${error.why}`,
      );
      return new Sleep(error.until, { ...state, waits });
    }
    state = await checkpoint(
      {
        ...state,
        waits: 0,
        modelCalls: state.modelCalls + 1,
        turns: [
          ...state.turns,
          {
            role: 'assistant',
            content: reply.text,
            ...(reply.toolCalls.length > 0 ? { toolCalls: reply.toolCalls } : {}),
            call: reply.call,
          },
        ],
      },
      deps,
      context,
    );
  }
}

/** A reply's tool calls: those answered at once (unknown tool, arguments not JSON), the rest as tasks. */
function plannedCalls(
  state: LoopState,
  asked: readonly ToolCall[],
): { immediate: ToolResult[]; children: ChildTaskRequest[]; pending: { callId: string; name: string }[] } {
  const immediate: ToolResult[] = [];
  const children: ChildTaskRequest[] = [];
  const pending: { callId: string; name: string }[] = [];
  for (const call of asked) {
    const tool = state.tools.find((t) => t.name === call.name);
    if (tool === undefined) {
      immediate.push({
        callId: call.id,
        name: call.name,
        isError: true,
        content: `no tool named "${call.name}"; the tools are ${state.tools.map((t) => t.name).join(', ')}`,
      });
      continue;
    }
    if (call.invalid !== undefined) {
      immediate.push({
        callId: call.id,
        name: call.name,
        isError: true,
        content: 'the arguments are not JSON',
      });
      continue;
    }
    pending.push({ callId: call.id, name: call.name });
    children.push({
      ...('capability' in tool.target
        ? {
            capability: tool.target.capability,
            ...(tool.target.routing === undefined ? {} : { routing: tool.target.routing }),
          }
        : tool.target),
      taskType: 'tool_call',
      input: call.arguments ?? {},
      maxRetries: 2,
      metadata: { call_id: call.id, tool: call.name, model_call: state.modelCalls },
    });
  }
  return { immediate, children, pending };
}

/**
 * Commits the state and the turns the record does not hold yet (one transaction); the state
 * returned says they are recorded. Without a worker (no `context.checkpoint`) nothing is saved.
 */
async function checkpoint(state: LoopState, deps: LoopDeps, context: RuntimeContext): Promise<LoopState> {
  const recorded = state.recorded ?? 0;
  if (context.checkpoint === undefined || recorded >= state.turns.length) return state;
  const next: LoopState = { ...state, recorded: state.turns.length };
  const held = await context.checkpoint(next, conversationEntries(deps, state.turns, recorded));
  if (!held)
    throw RuntimeError.unreachable("the task's lease was lost while saving the conversation", {
      context: { reason: 'LEASE_LOST' },
    });
  return next;
}

/**
 * The record of `turns[from…]`: one message per user and assistant turn and per tool result,
 * the system prompt ahead of the first. `metadata.turn` orders them (the system prompt is 0).
 */
export function conversationEntries(
  deps: Pick<LoopDeps, 'system' | 'speaker'>,
  turns: readonly Turn[],
  from: number,
): ConversationEntry[] {
  const entries: ConversationEntry[] = [];
  const agent = deps.speaker;
  if (from === 0 && deps.system !== undefined)
    entries.push({
      role: 'system',
      type: 'request',
      sender: 'swarm',
      recipient: agent,
      content: { text: deps.system },
      metadata: { conversation: true, role: 'system', turn: 0 },
    });
  for (let i = from; i < turns.length; i++) {
    const turn = turns[i]!;
    const base = { conversation: true, role: turn.role, turn: i + 1 };
    if (turn.role === 'user') {
      entries.push({
        role: 'user',
        type: 'request',
        sender: 'swarm',
        recipient: agent,
        content: { text: turn.content },
        metadata: base,
      });
    } else if (turn.role === 'assistant') {
      const call = turn.call;
      entries.push({
        role: 'assistant',
        type: 'response',
        sender: agent,
        recipient: null,
        content: {
          text: turn.content,
          ...(turn.toolCalls === undefined
            ? {}
            : {
                tool_calls: turn.toolCalls.map((c) => ({ id: c.id, name: c.name, arguments: c.arguments })),
              }),
        },
        metadata:
          call === undefined
            ? base
            : {
                ...base,
                model_call: call.index,
                provider: call.provider,
                model: call.model,
                input_tokens: call.inputTokens,
                output_tokens: call.outputTokens,
                tokens: call.inputTokens + call.outputTokens,
                cost: call.cost,
                started_at: call.startedAt,
                duration_ms: call.durationMs,
              },
      });
    } else {
      turn.results.forEach((result, part) =>
        entries.push({
          role: 'tool',
          type: result.isError ? 'error' : 'response',
          sender: `tool:${result.name}`,
          recipient: agent,
          content: {
            call_id: result.callId,
            name: result.name,
            content: result.content,
            is_error: result.isError,
          },
          metadata: {
            ...base,
            part,
            ...(result.taskId === undefined ? {} : { tool_task_id: result.taskId }),
          },
        }),
      );
    }
  }
  return entries;
}

function resultOf(call: { callId: string; name: string }, child: ChildTaskOutcome): ToolResult {
  if (child.status === 'COMPLETED') {
    const text = JSON.stringify(child.output ?? null);
    return {
      callId: call.callId,
      name: call.name,
      taskId: child.id,
      isError: false,
      content:
        text.length > MAX_RESULT_CHARS
          ? `${text.slice(0, MAX_RESULT_CHARS)}… (cut at ${MAX_RESULT_CHARS} characters)`
          : text,
    };
  }
  return {
    callId: call.callId,
    name: call.name,
    taskId: child.id,
    isError: true,
    content: `the tool ${child.status.toLowerCase()}: ${child.error ?? 'no error given'}`,
  };
}

/** The tool called with the same arguments in each of the last `limit` model calls, if any. */
function repeatedCall(turns: readonly Turn[], limit: number): string | null {
  const signatures: string[][] = [];
  for (let i = turns.length - 1; i >= 0 && signatures.length < limit; i--) {
    const turn = turns[i]!;
    if (turn.role !== 'assistant') continue;
    signatures.push((turn.toolCalls ?? []).map((c) => `${c.name} ${JSON.stringify(c.arguments)}`));
  }
  if (signatures.length < limit) return null;
  const [first, ...rest] = signatures;
  for (const signature of first ?? []) {
    if (rest.every((s) => s.includes(signature))) return signature.slice(0, signature.indexOf(' '));
  }
  return null;
}

function loopError(reason: string, message: string): RuntimeError {
  return new RuntimeError('AGENT_LOOP_LIMIT', message, { retryable: false, context: { reason } });
}

/** The tool calls of the conversation's last assistant turn. */
function lastToolCalls(turns: readonly Turn[]): readonly ToolCall[] {
  for (let i = turns.length - 1; i >= 0; i--) {
    const turn = turns[i]!;
    if (turn.role === 'assistant') return turn.toolCalls ?? [];
  }
  return [];
}
