/**
 * The providers' wire formats: OpenAI chat completions (also `custom` OpenAI-compatible
 * endpoints), Anthropic messages, and Ollama's native chat API. Each turns one call into a
 * request and a response body into text and token counts. No I/O here.
 */
import type { LlmProviderKind } from '../../storage/index.js';

export interface ChatMessage {
  role: 'user' | 'assistant';
  content: string;
}

/** One call, provider-neutral. */
export interface LlmCall {
  model: string;
  system: string | undefined;
  messages: ChatMessage[];
  /** temperature, max_tokens, top_p, stop… as the agent (and its configuration) set them. */
  parameters: Record<string, unknown>;
}

export interface WireRequest {
  url: URL;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

export interface LlmReply {
  text: string;
  inputTokens: number;
  outputTokens: number;
  /** The model the provider says answered (may be more specific than the one asked for). */
  model: string | null;
}

export const DEFAULT_BASE_URLS: Readonly<Record<LlmProviderKind, string | null>> = {
  openai: 'https://api.openai.com',
  anthropic: 'https://api.anthropic.com',
  ollama: 'http://127.0.0.1:11434',
  custom: null,
};

export const ANTHROPIC_VERSION = '2023-06-01';
/** Anthropic requires max_tokens; this is used when neither the agent nor its configuration sets it. */
export const ANTHROPIC_DEFAULT_MAX_TOKENS = 1024;

/** Keys a request body is built from: parameters cannot replace them. */
const RESERVED = new Set(['model', 'messages', 'system', 'stream']);

/**
 * `{base}/v1/<path>`: the base URL is the server's root, possibly under a path prefix. A base
 * that already ends in `/v1` (as OpenAI documents it) is taken as is, not doubled.
 */
export function endpoint(base: string, path: string): URL {
  const url = new URL(base);
  let prefix = url.pathname.replace(/\/+$/, '');
  if (path.startsWith('/v1/') && prefix.endsWith('/v1')) prefix = prefix.slice(0, -3);
  url.pathname = `${prefix}${path}`;
  url.search = '';
  url.hash = '';
  return url;
}

function passThrough(parameters: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(parameters).filter(([key]) => !RESERVED.has(key)));
}

export function buildRequest(
  kind: LlmProviderKind,
  base: string,
  apiKey: string | null,
  call: LlmCall,
): WireRequest {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json',
    'user-agent': 'Swarm (llm runtime)',
  };
  switch (kind) {
    case 'anthropic': {
      if (apiKey !== null) headers['x-api-key'] = apiKey;
      headers['anthropic-version'] = ANTHROPIC_VERSION;
      const parameters = passThrough(call.parameters);
      return {
        url: endpoint(base, '/v1/messages'),
        headers,
        body: {
          model: call.model,
          ...(call.system === undefined ? {} : { system: call.system }),
          messages: call.messages,
          ...parameters,
          max_tokens: parameters.max_tokens ?? ANTHROPIC_DEFAULT_MAX_TOKENS,
        },
      };
    }
    case 'ollama': {
      if (apiKey !== null) headers.authorization = `Bearer ${apiKey}`;
      // Ollama's options: max_tokens is num_predict there; the rest keep their names.
      const { max_tokens: maxTokens, ...rest } = passThrough(call.parameters);
      const options = { ...rest, ...(maxTokens === undefined ? {} : { num_predict: maxTokens }) };
      return {
        url: endpoint(base, '/api/chat'),
        headers,
        body: {
          model: call.model,
          messages: [
            ...(call.system === undefined ? [] : [{ role: 'system', content: call.system }]),
            ...call.messages,
          ],
          stream: false,
          ...(Object.keys(options).length === 0 ? {} : { options }),
        },
      };
    }
    case 'openai':
    case 'custom': {
      if (apiKey !== null) headers.authorization = `Bearer ${apiKey}`;
      return {
        url: endpoint(base, '/v1/chat/completions'),
        headers,
        body: {
          model: call.model,
          messages: [
            ...(call.system === undefined ? [] : [{ role: 'system', content: call.system }]),
            ...call.messages,
          ],
          ...passThrough(call.parameters),
        },
      };
    }
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const count = (value: unknown): number =>
  typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.round(value) : 0;

/** The reply's text and usage, or null when the body is not what the format promises. */
export function parseReply(kind: LlmProviderKind, body: unknown): LlmReply | null {
  if (!isRecord(body)) return null;
  const model = typeof body.model === 'string' ? body.model : null;
  switch (kind) {
    case 'anthropic': {
      if (!Array.isArray(body.content)) return null;
      const text = body.content
        .filter((block): block is { type: 'text'; text: string } => isRecord(block) && block.type === 'text')
        .map((block) => (typeof block.text === 'string' ? block.text : ''))
        .join('');
      const usage = isRecord(body.usage) ? body.usage : {};
      return {
        text,
        inputTokens: count(usage.input_tokens),
        outputTokens: count(usage.output_tokens),
        model,
      };
    }
    case 'ollama': {
      if (!isRecord(body.message) || typeof body.message.content !== 'string') return null;
      return {
        text: body.message.content,
        inputTokens: count(body.prompt_eval_count),
        outputTokens: count(body.eval_count),
        model,
      };
    }
    case 'openai':
    case 'custom': {
      const choice: unknown = Array.isArray(body.choices) ? body.choices[0] : undefined;
      if (!isRecord(choice) || !isRecord(choice.message)) return null;
      const content = choice.message.content;
      const text =
        typeof content === 'string'
          ? content
          : content === null
            ? ''
            : Array.isArray(content)
              ? content
                  .map((part) => (isRecord(part) && typeof part.text === 'string' ? part.text : ''))
                  .join('')
              : null;
      if (text === null) return null;
      const usage = isRecord(body.usage) ? body.usage : {};
      return {
        text,
        inputTokens: count(usage.prompt_tokens),
        outputTokens: count(usage.completion_tokens),
        model,
      };
    }
  }
}

/** The provider's own error message in an error response, when it gives one. */
export function errorMessage(body: unknown): string | null {
  if (typeof body === 'string') return body.trim() === '' ? null : body;
  if (!isRecord(body)) return null;
  const error = body.error;
  if (typeof error === 'string') return error; // ollama
  if (isRecord(error) && typeof error.message === 'string') return error.message; // openai, anthropic
  if (typeof body.message === 'string') return body.message;
  return null;
}
