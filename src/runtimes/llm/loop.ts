/**
 * The agent loop of an `llm` agent with `tools`: model call → the tool calls it asks for, each a
 * child task of the step's task (durable, retried, routed and leased like any task; parallel
 * calls run in parallel) → their results appended → the next model call, until the model
 * answers without tools (checked against output_schema), or a limit ends it.
 *
 * Durability: the conversation so far is the task's sleep state. A model reply that asks for
 * tools is committed together with the child tasks and the sleep (one transaction), and the
 * worker's slot is free while the tools run; the last child to end wakes the task, on any
 * worker. A worker killed mid-loop therefore resumes at the last commit: no completed model call
 * or tool call is made again — only the call that was in flight.
 */
import { RuntimeError } from '../errors.js';
import type { AgentInvocation, ChildTaskOutcome, ChildTaskRequest, RuntimeContext } from '../types.js';
import { Sleep } from '../types.js';
import type { ToolCall, ToolResult, ToolSpec, Turn } from './tool-wire.js';

/** A tool as the loop runs it: what the model sees, and the task that answers a call. */
export interface LoopTool extends ToolSpec {
  readonly target:
    { readonly agentName: string; readonly agentVersion: string } | { readonly capability: string };
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
/** The most of one tool result the model is shown. */
const MAX_RESULT_CHARS = 20_000;

export interface LoopDeps {
  /** One model call with the conversation and the tools; `callIndex` counts from 1. */
  callModel(
    turns: readonly Turn[],
    tools: readonly ToolSpec[],
    callIndex: number,
  ): Promise<{ text: string; toolCalls: ToolCall[] }>;
  /** The final answer as the step's output; throws RuntimeError INVALID_INPUT when it does not fit. */
  output(text: string): unknown;
  /** The tools, resolved when the loop starts (and then kept in its state). */
  resolveTools(): Promise<LoopTool[]>;
  /** The conversation's first turns, from the step's input. */
  initialTurns(): Turn[];
  limits: LoopLimits;
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
      };

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
    if (state.modelCalls >= deps.limits.maxTurns)
      throw loopError(
        'MAX_TURNS',
        `the agent loop reached max_turns (${deps.limits.maxTurns}) without a final answer`,
      );
    const reply = await deps.callModel(state.turns, state.tools, state.modelCalls + 1);
    state = {
      ...state,
      modelCalls: state.modelCalls + 1,
      turns: [
        ...state.turns,
        {
          role: 'assistant',
          content: reply.text,
          ...(reply.toolCalls.length > 0 ? { toolCalls: reply.toolCalls } : {}),
        },
      ],
    };
    if (reply.toolCalls.length === 0) {
      try {
        return deps.output(reply.text);
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

    const toolCalls = state.toolCalls + reply.toolCalls.length;
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

    // Calls that cannot run (unknown tool, arguments not JSON) are answered at once.
    const immediate: ToolResult[] = [];
    const children: ChildTaskRequest[] = [];
    const pending: { callId: string; name: string }[] = [];
    for (const call of reply.toolCalls) {
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
        ...('capability' in tool.target ? { capability: tool.target.capability } : tool.target),
        taskType: 'tool_call',
        input: call.arguments ?? {},
        maxRetries: 2,
        metadata: { call_id: call.id, tool: call.name, model_call: state.modelCalls },
      });
    }
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
}

function resultOf(call: { callId: string; name: string }, child: ChildTaskOutcome): ToolResult {
  if (child.status === 'COMPLETED') {
    const text = JSON.stringify(child.output ?? null);
    return {
      callId: call.callId,
      name: call.name,
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
