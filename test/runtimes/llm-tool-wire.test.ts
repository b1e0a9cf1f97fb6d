import { describe, expect, it } from 'vitest';
import { runLoop, DEFAULT_LOOP_LIMITS, type LoopDeps } from '../../src/runtimes/llm/loop.js';
import { messagesFor, toolCallsOf, type Turn } from '../../src/runtimes/llm/tool-wire.js';
import { RuntimeError } from '../../src/runtimes/errors.js';
import type { AgentInvocation, RuntimeContext } from '../../src/runtimes/index.js';

const turns: Turn[] = [
  { role: 'user', content: 'go' },
  { role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'echo', arguments: { a: 1 } }] },
  { role: 'tool', results: [{ callId: 'c1', name: 'echo', content: 'oops', isError: true }] },
];

describe('tool calls on the wire', () => {
  it('writes a conversation with tool calls and results in each provider’s shape', () => {
    expect(messagesFor('openai', turns)).toEqual([
      { role: 'user', content: 'go' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'c1', type: 'function', function: { name: 'echo', arguments: '{"a":1}' } }],
      },
      { role: 'tool', tool_call_id: 'c1', content: 'oops' },
    ]);
    expect(messagesFor('anthropic', turns)).toEqual([
      { role: 'user', content: 'go' },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'c1', name: 'echo', input: { a: 1 } }] },
      {
        role: 'user',
        content: [{ type: 'tool_result', tool_use_id: 'c1', content: 'oops', is_error: true }],
      },
    ]);
    expect(messagesFor('ollama', turns)).toEqual([
      { role: 'user', content: 'go' },
      { role: 'assistant', content: '', tool_calls: [{ function: { name: 'echo', arguments: { a: 1 } } }] },
      { role: 'tool', tool_name: 'echo', content: 'oops' },
    ]);
  });

  it('reads tool calls: JSON-string arguments, arguments that are not JSON, and ids Ollama does not give', () => {
    const openai = {
      choices: [
        {
          message: {
            tool_calls: [
              { id: 'a', function: { name: 'x', arguments: '{"n":2}' } },
              { id: 'b', function: { name: 'y', arguments: '{nope' } },
            ],
          },
        },
      ],
    };
    expect(toolCallsOf('openai', openai, 'p')).toEqual([
      { id: 'a', name: 'x', arguments: { n: 2 } },
      { id: 'b', name: 'y', arguments: null, invalid: '{nope' },
    ]);
    expect(
      toolCallsOf(
        'ollama',
        { message: { tool_calls: [{ function: { name: 'x', arguments: { n: 1 } } }] } },
        'p7',
      ),
    ).toEqual([{ id: 'p7_0', name: 'x', arguments: { n: 1 } }]);
    expect(toolCallsOf('anthropic', { content: [{ type: 'text', text: 'hi' }] }, 'p')).toEqual([]);
    expect(toolCallsOf('openai', 'not a body', 'p')).toEqual([]);
  });
});

describe('the loop’s limits', () => {
  const invocation = {
    taskId: 't',
    runId: null,
    stepId: null,
    ownerId: 'o',
    attempt: 1,
    agent: { name: 'a', version: '1.0.0', runtime: { type: 'llm' } },
    input: {},
  } as AgentInvocation;
  const context = {
    signal: new AbortController().signal,
    events: { emit: async () => {} },
    log: () => {},
  } as unknown as RuntimeContext;
  const deps = (
    replies: Array<{ text: string; toolCalls?: never[] }>,
    output: LoopDeps['output'],
    limits = DEFAULT_LOOP_LIMITS,
  ): LoopDeps & { seen: Turn[][] } => {
    const seen: Turn[][] = [];
    return {
      seen,
      limits,
      initialTurns: () => [{ role: 'user', content: 'q' }],
      resolveTools: async () => [
        {
          name: 'echo',
          description: 'd',
          inputSchema: {},
          target: { agentName: 'echo', agentVersion: '1.0.0' },
        },
      ],
      callModel: async (conversation) => {
        seen.push([...conversation]);
        const reply = replies.shift();
        if (reply === undefined) throw new Error('no more replies');
        return { text: reply.text, toolCalls: reply.toolCalls ?? [] };
      },
      output,
    };
  };

  it('sends a final answer that fails validation back to the model, up to output_retries times', async () => {
    const d = deps([{ text: 'bad' }, { text: 'good' }], (text) => {
      if (text !== 'good') throw RuntimeError.invalidInput('output', 'is not good');
      return { text };
    });
    expect(await runLoop(d, invocation, context)).toEqual({ text: 'good' });
    expect(d.seen[1]!.at(-1)).toEqual({
      role: 'user',
      content: expect.stringContaining('output: is not good'),
    });

    const never = deps(
      [{ text: 'bad' }, { text: 'bad' }],
      () => {
        throw RuntimeError.invalidInput('output', 'is not good');
      },
      { ...DEFAULT_LOOP_LIMITS, outputRetries: 1 },
    );
    await expect(runLoop(never, invocation, context)).rejects.toThrow(/is not good/);
  });

  it('stops at max_turns with AGENT_LOOP_LIMIT', async () => {
    const d = deps(
      [{ text: 'bad' }, { text: 'bad' }, { text: 'bad' }],
      () => {
        throw RuntimeError.invalidInput('output', 'no');
      },
      { ...DEFAULT_LOOP_LIMITS, maxTurns: 2, outputRetries: 5 },
    );
    await expect(runLoop(d, invocation, context)).rejects.toMatchObject({ code: 'AGENT_LOOP_LIMIT' });
    expect(d.seen).toHaveLength(2);
  });
});
