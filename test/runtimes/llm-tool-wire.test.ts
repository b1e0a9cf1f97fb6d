import { describe, expect, it } from 'vitest';
import { runLoop, DEFAULT_LOOP_LIMITS, type LoopDeps } from '../../src/runtimes/llm/loop.js';
import { messagesFor, toolCallsOf, type Turn } from '../../src/runtimes/llm/tool-wire.js';
import { RuntimeError } from '../../src/runtimes/errors.js';
import { Sleep } from '../../src/runtimes/index.js';
import type { AgentInvocation, ConversationEntry, RuntimeContext } from '../../src/runtimes/index.js';

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
        return {
          text: reply.text,
          toolCalls: reply.toolCalls ?? [],
          call: {
            index: seen.length,
            provider: 'p',
            model: 'm',
            inputTokens: 1,
            outputTokens: 1,
            cost: 0,
            startedAt: new Date(0).toISOString(),
            durationMs: 1,
          },
        };
      },
      output,
      system: 'be brief',
      speaker: 'asker@1.0.0',
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

  it('checkpoints every model reply with the turns not yet recorded, and never repeats a checkpointed call', async () => {
    const saved: { state: unknown; entries: readonly ConversationEntry[] }[] = [];
    const recording = {
      ...context,
      checkpoint: async (state: unknown, entries: readonly ConversationEntry[]) => {
        saved.push({ state, entries });
        return true;
      },
    } as RuntimeContext;
    const d = deps([{ text: 'bad' }, { text: 'good' }], (text) => {
      if (text !== 'good') throw RuntimeError.invalidInput('output', 'is not good');
      return { text };
    });
    expect(await runLoop(d, invocation, recording)).toEqual({ text: 'good' });
    expect(saved).toHaveLength(2);
    expect(saved[0]!.entries.map((e) => [e.role, e.metadata.turn])).toEqual([
      ['system', 0],
      ['user', 1],
      ['assistant', 2],
    ]);
    expect(saved[0]!.entries[2]).toMatchObject({
      sender: 'asker@1.0.0',
      type: 'response',
      content: { text: 'bad' },
      metadata: { model_call: 1, tokens: 2 },
    });
    // The second checkpoint adds the rejection and the new reply only.
    expect(saved[1]!.entries.map((e) => [e.role, e.metadata.turn])).toEqual([
      ['user', 3],
      ['assistant', 4],
    ]);

    // An attempt that resumes from the last checkpoint (its process died before completing)
    // answers from it without calling the model.
    const again = deps([], (text) => ({ text }));
    const resumed = { ...invocation, resumeState: saved[1]!.state } as AgentInvocation;
    expect(await runLoop(again, resumed, recording)).toEqual({ text: 'good' });
    expect(again.seen).toHaveLength(0);
    expect(saved).toHaveLength(2);
  });

  it('fails the attempt when the lease is lost while checkpointing', async () => {
    const lost = { ...context, checkpoint: async () => false } as RuntimeContext;
    const d = deps([{ text: 'fine' }], (text) => ({ text }));
    await expect(runLoop(d, invocation, lost)).rejects.toThrow(/lease was lost/);
  });

  it("starts a capability tool as a child task routed with the tool's strategy", async () => {
    const d = deps(
      [{ text: '', toolCalls: [{ id: 'c1', name: 'count', arguments: { text: 'a b' } }] as never[] }],
      (text) => ({
        text,
      }),
    );
    d.resolveTools = async () => [
      {
        name: 'count',
        description: 'd',
        inputSchema: {},
        target: { capability: 'text:count', routing: 'fastest' },
      },
    ];
    const slept = await runLoop(d, invocation, context);
    expect(slept).toBeInstanceOf(Sleep);
    expect((slept as Sleep).children).toEqual([
      expect.objectContaining({
        capability: 'text:count',
        routing: 'fastest',
        taskType: 'tool_call',
        input: { text: 'a b' },
      }),
    ]);
  });
});
