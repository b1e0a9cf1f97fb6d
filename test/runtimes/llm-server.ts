/**
 * A local stand-in for LLM providers (there is no network here): speaks OpenAI chat completions
 * (`POST /v1/chat/completions`), Anthropic messages (`POST /v1/messages`) and Ollama's native chat
 * (`POST /api/chat`), records every request, and answers with a canned completion and usage, or
 * with whatever status `next` says.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
}

export interface FakeLlm {
  readonly url: string;
  readonly requests: SeenRequest[];
  /** The text the next completions carry. */
  reply: string;
  usage: { input: number; output: number };
  /** Answer the next requests with this status and body instead (until cleared). */
  failWith: { status: number; body: unknown; headers?: Record<string, string> } | null;
  /** Never answer (for timeouts and aborts). */
  hang: boolean;
  close(): Promise<void>;
}

export async function startFakeLlm(): Promise<FakeLlm> {
  const hanging = new Set<http.ServerResponse>();
  const fake: Omit<FakeLlm, 'url' | 'close'> = {
    requests: [],
    reply: 'Hello from the fake model.',
    usage: { input: 12, output: 7 },
    failWith: null,
    hang: false,
  };
  const server = http.createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const text = Buffer.concat(chunks).toString('utf8');
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      fake.requests.push({
        method: req.method ?? '',
        path,
        headers: req.headers,
        body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
      });
      if (fake.hang) {
        hanging.add(res);
        return;
      }
      const send = (status: number, body: unknown, headers: Record<string, string> = {}) =>
        res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
      if (fake.failWith !== null)
        return send(fake.failWith.status, fake.failWith.body, fake.failWith.headers);
      const model = (JSON.parse(text) as { model?: string }).model ?? 'unknown';
      // A path prefix (a proxy's `/proxy/v1/…`) is allowed in front of each route.
      const route = ['/v1/chat/completions', '/v1/messages', '/api/chat'].find((r) => path.endsWith(r));
      switch (route) {
        case '/v1/chat/completions':
          return send(200, {
            id: 'chatcmpl-1',
            object: 'chat.completion',
            model,
            choices: [
              { index: 0, message: { role: 'assistant', content: fake.reply }, finish_reason: 'stop' },
            ],
            usage: {
              prompt_tokens: fake.usage.input,
              completion_tokens: fake.usage.output,
              total_tokens: fake.usage.input + fake.usage.output,
            },
          });
        case '/v1/messages':
          return send(200, {
            id: 'msg_1',
            type: 'message',
            role: 'assistant',
            model,
            content: [{ type: 'text', text: fake.reply }],
            stop_reason: 'end_turn',
            usage: { input_tokens: fake.usage.input, output_tokens: fake.usage.output },
          });
        case '/api/chat':
          return send(200, {
            model,
            created_at: new Date().toISOString(),
            message: { role: 'assistant', content: fake.reply },
            done: true,
            prompt_eval_count: fake.usage.input,
            eval_count: fake.usage.output,
          });
        default:
          return send(404, { error: { message: `no route ${path}` } });
      }
    })();
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(fake, {
    url: `http://127.0.0.1:${port}`,
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  });
}
