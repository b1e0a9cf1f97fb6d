/**
 * Tool calling on the wire, per provider: how the tools are offered, how a conversation with
 * tool calls and their results is written, and how a reply's tool calls are read.
 * - OpenAI chat completions (and OpenAI-compatible `custom` endpoints): `tools: [{type:
 *   'function', function}]`, `assistant.tool_calls` with JSON-string arguments, `role: 'tool'`.
 * - Anthropic messages: `tools: [{name, description, input_schema}]`, `tool_use` blocks,
 *   `tool_result` blocks in the next user message.
 * - Ollama chat: OpenAI-shaped tools, `message.tool_calls` with object arguments and no ids,
 *   `role: 'tool'` results.
 * No I/O here.
 */
import type { LlmProviderKind } from '../../storage/index.js';

/** A tool as the model is told about it. */
export interface ToolSpec {
  readonly name: string;
  readonly description: string;
  readonly inputSchema: Record<string, unknown>;
}

/** A call the model asked for. `arguments` is what it sent, parsed; `invalid` when it was not JSON. */
export interface ToolCall {
  readonly id: string;
  readonly name: string;
  readonly arguments: unknown;
  readonly invalid?: string;
}

export interface ToolResult {
  readonly callId: string;
  readonly name: string;
  /** What the model reads: the tool's output as JSON text, or the error. */
  readonly content: string;
  readonly isError: boolean;
  /** The child task that answered, when one did (for the record, not the model). */
  readonly taskId?: string;
}

/** What one model call cost and when it ran (for the record, not the model). */
export interface ModelCallInfo {
  /** Counts from 1 within the step. */
  readonly index: number;
  readonly provider: string;
  readonly model: string;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cost: number;
  /** ISO time the request was sent. */
  readonly startedAt: string;
  readonly durationMs: number;
}

/** One turn of a conversation, provider-neutral: what a loop checkpoints. */
export type Turn =
  | { readonly role: 'user'; readonly content: string }
  | {
      readonly role: 'assistant';
      readonly content: string;
      readonly toolCalls?: readonly ToolCall[];
      readonly call?: ModelCallInfo;
    }
  | { readonly role: 'tool'; readonly results: readonly ToolResult[] };

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** `tools` for the request body. */
export function toolsFor(kind: LlmProviderKind, tools: readonly ToolSpec[]): unknown[] {
  if (kind === 'anthropic')
    return tools.map((t) => ({ name: t.name, description: t.description, input_schema: t.inputSchema }));
  return tools.map((t) => ({
    type: 'function',
    function: { name: t.name, description: t.description, parameters: t.inputSchema },
  }));
}

/** The conversation as the provider's `messages` (the system prompt goes where each wants it). */
export function messagesFor(kind: LlmProviderKind, turns: readonly Turn[]): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const turn of turns) {
    if (turn.role === 'user') {
      out.push({ role: 'user', content: turn.content });
      continue;
    }
    if (turn.role === 'assistant') {
      const calls = turn.toolCalls ?? [];
      if (calls.length === 0) {
        out.push({ role: 'assistant', content: turn.content });
      } else if (kind === 'anthropic') {
        out.push({
          role: 'assistant',
          content: [
            ...(turn.content === '' ? [] : [{ type: 'text', text: turn.content }]),
            ...calls.map((c) => ({ type: 'tool_use', id: c.id, name: c.name, input: c.arguments ?? {} })),
          ],
        });
      } else if (kind === 'ollama') {
        out.push({
          role: 'assistant',
          content: turn.content,
          tool_calls: calls.map((c) => ({ function: { name: c.name, arguments: c.arguments ?? {} } })),
        });
      } else {
        out.push({
          role: 'assistant',
          content: turn.content === '' ? null : turn.content,
          tool_calls: calls.map((c) => ({
            id: c.id,
            type: 'function',
            function: { name: c.name, arguments: c.invalid ?? JSON.stringify(c.arguments ?? {}) },
          })),
        });
      }
      continue;
    }
    if (kind === 'anthropic') {
      out.push({
        role: 'user',
        content: turn.results.map((r) => ({
          type: 'tool_result',
          tool_use_id: r.callId,
          content: r.content,
          ...(r.isError ? { is_error: true } : {}),
        })),
      });
    } else if (kind === 'ollama') {
      for (const r of turn.results) out.push({ role: 'tool', tool_name: r.name, content: r.content });
    } else {
      for (const r of turn.results) out.push({ role: 'tool', tool_call_id: r.callId, content: r.content });
    }
  }
  return out;
}

/**
 * The tool calls of a reply body (empty when it asks for none). Ollama gives no ids: they are
 * made from `idPrefix` (unique per model call) and the call's place.
 */
export function toolCallsOf(kind: LlmProviderKind, body: unknown, idPrefix: string): ToolCall[] {
  if (!isRecord(body)) return [];
  if (kind === 'anthropic') {
    if (!Array.isArray(body.content)) return [];
    return body.content.flatMap((block, i) =>
      isRecord(block) && block.type === 'tool_use' && typeof block.name === 'string'
        ? [
            {
              id: typeof block.id === 'string' && block.id !== '' ? block.id : `${idPrefix}_${i}`,
              name: block.name,
              arguments: block.input ?? {},
            },
          ]
        : [],
    );
  }
  const message =
    kind === 'ollama'
      ? body.message
      : Array.isArray(body.choices) && isRecord(body.choices[0])
        ? body.choices[0].message
        : undefined;
  if (!isRecord(message) || !Array.isArray(message.tool_calls)) return [];
  return message.tool_calls.flatMap((call: unknown, i) => {
    if (!isRecord(call) || !isRecord(call.function) || typeof call.function.name !== 'string') return [];
    const id = typeof call.id === 'string' && call.id !== '' ? call.id : `${idPrefix}_${i}`;
    const raw = call.function.arguments;
    if (typeof raw !== 'string') return [{ id, name: call.function.name, arguments: raw ?? {} }];
    try {
      return [
        { id, name: call.function.name, arguments: raw.trim() === '' ? {} : (JSON.parse(raw) as unknown) },
      ];
    } catch {
      return [{ id, name: call.function.name, arguments: null, invalid: raw }];
    }
  });
}

/**
 * A request built for one plain call (wire.ts), given the loop's whole conversation instead of
 * its messages, and the tools.
 */
export function withConversation<R extends { body: Record<string, unknown> }>(
  kind: LlmProviderKind,
  request: R,
  system: string | undefined,
  turns: readonly Turn[],
  tools: readonly ToolSpec[],
): R {
  const messages = messagesFor(kind, turns);
  return {
    ...request,
    body: {
      ...request.body,
      messages:
        kind === 'anthropic' || system === undefined
          ? messages
          : [{ role: 'system', content: system }, ...messages],
      ...(tools.length === 0 ? {} : { tools: toolsFor(kind, tools) }),
    },
  };
}
