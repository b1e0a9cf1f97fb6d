/**
 * A scripted stand-in for LLM providers that call tools: answers each chat request with the
 * next reply of its script, written in the wire format of the path it was sent to (OpenAI chat
 * completions, Anthropic messages, Ollama chat), and records every request.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface ScriptedReply {
  readonly text?: string;
  readonly toolCalls?: readonly { readonly name: string; readonly arguments: unknown }[];
  /** Leave the request unanswered until `release()`: a call in flight. */
  readonly hold?: boolean;
  /** Tokens the reply says it used (10 in, 5 out by default). */
  readonly usage?: { readonly input: number; readonly output: number };
  /** An error answer instead: this HTTP status, with `Retry-After` when given. */
  readonly status?: number;
  readonly retryAfter?: string;
}

export interface ScriptedModel {
  readonly url: string;
  /** Every request, with when it came (ms since the epoch). */
  readonly requests: { path: string; body: Record<string, unknown>; at: number }[];
  /** Replies still to give, in order; a request past the end gets a 500. */
  script: ScriptedReply[];
  /** Answers the requests held by a `hold` reply; one whose caller is gone gives its reply back. */
  release(): void;
  /**
   * Held requests whose caller is still connected. A caller killed while its request is held is
   * gone only once this server has seen its connection close: release before that, and the reply
   * goes to the dead connection instead of back to the script.
   */
  heldConnected(): number;
  close(): Promise<void>;
}

export async function startScriptedModel(): Promise<ScriptedModel> {
  const held: Array<{ answer: () => void; socket: Socket }> = [];
  const model: Omit<ScriptedModel, 'url' | 'close'> = {
    requests: [],
    script: [],
    release: () => {
      for (const { answer } of held.splice(0)) answer();
    },
    heldConnected: () => held.filter(({ socket }) => !socket.destroyed).length,
  };
  let served = 0;
  const server = http.createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      model.requests.push({ path, body, at: Date.now() });
      const send = (status: number, payload: unknown) =>
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
      const reply = model.script.shift();
      if (reply?.hold) {
        await new Promise<void>((resolve) => held.push({ answer: resolve, socket: req.socket }));
        if (req.socket.destroyed) {
          // Its caller died waiting: the next request gets this reply.
          model.script.unshift({ ...reply, hold: false });
          return;
        }
      }
      if (reply === undefined) return send(500, { error: { message: 'the script has no more replies' } });
      if (reply.status !== undefined) {
        res.writeHead(reply.status, {
          'content-type': 'application/json',
          ...(reply.retryAfter === undefined ? {} : { 'retry-after': reply.retryAfter }),
        });
        return res.end(JSON.stringify({ error: { message: `scripted ${reply.status}` } }));
      }
      served++;
      const calls = reply.toolCalls ?? [];
      const usage = reply.usage ?? { input: 10, output: 5 };
      if (path.endsWith('/v1/messages'))
        return send(200, {
          id: `msg_${served}`,
          type: 'message',
          role: 'assistant',
          model: body.model,
          content: [
            ...(reply.text === undefined ? [] : [{ type: 'text', text: reply.text }]),
            ...calls.map((c, i) => ({
              type: 'tool_use',
              id: `toolu_${served}_${i}`,
              name: c.name,
              input: c.arguments,
            })),
          ],
          stop_reason: calls.length > 0 ? 'tool_use' : 'end_turn',
          usage: { input_tokens: usage.input, output_tokens: usage.output },
        });
      if (path.endsWith('/api/chat'))
        return send(200, {
          model: body.model,
          message: {
            role: 'assistant',
            content: reply.text ?? '',
            ...(calls.length === 0
              ? {}
              : { tool_calls: calls.map((c) => ({ function: { name: c.name, arguments: c.arguments } })) }),
          },
          done: true,
          prompt_eval_count: usage.input,
          eval_count: usage.output,
        });
      return send(200, {
        id: `chatcmpl-${served}`,
        object: 'chat.completion',
        model: body.model,
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: reply.text ?? null,
              ...(calls.length === 0
                ? {}
                : {
                    tool_calls: calls.map((c, i) => ({
                      id: `call_${served}_${i}`,
                      type: 'function',
                      function: { name: c.name, arguments: JSON.stringify(c.arguments) },
                    })),
                  }),
            },
            finish_reason: calls.length > 0 ? 'tool_calls' : 'stop',
          },
        ],
        usage: {
          prompt_tokens: usage.input,
          completion_tokens: usage.output,
          total_tokens: usage.input + usage.output,
        },
      });
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    ...model,
    get script() {
      return model.script;
    },
    set script(value) {
      model.script = value;
    },
    url: `http://127.0.0.1:${port}`,
    close: () => {
      model.release();
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
