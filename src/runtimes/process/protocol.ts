/**
 * The agent protocol, stdout side: one JSON object per line, told apart by `type`. A line that is
 * not JSON, or not one of these, is kept as a log line and is never fatal (a stray print must not
 * fail an attempt). See docs/runtimes.md for every line with an example.
 */
import type { LogLevel } from '../types.js';

export type AgentLine =
  | { type: 'log'; level: LogLevel; message: string; data: Record<string, unknown> | null }
  | { type: 'event'; name: string; source: string | null; payload: unknown; key: string | null }
  | { type: 'message'; to: string | null; messageType: MessageType; content: unknown }
  | {
      type: 'usage';
      tokens: number;
      inputTokens: number | null;
      outputTokens: number | null;
      cost: number;
      model: string | null;
      provider: string | null;
    }
  | {
      type: 'artifact';
      name: string;
      contentType: string | null;
      content: string | null;
      encoding: 'utf8' | 'base64' | null;
      path: string | null;
    }
  | { type: 'output'; output: unknown }
  | { type: 'error'; message: string; retryable: boolean | null }
  /** Not a protocol line: plain text, or JSON that is not one of the above (`why` says). */
  | { type: 'text'; text: string; why: string | null };

/** What a `message` line's `message_type` may be (the `messages.message_type` values). */
export const MESSAGE_TYPES = ['request', 'response', 'status_update', 'error', 'broadcast'] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];

export const LINE_TYPES = ['log', 'event', 'message', 'usage', 'artifact', 'output', 'error'] as const;

const LEVELS: Record<string, LogLevel> = {
  debug: 'debug',
  info: 'info',
  warn: 'warning',
  warning: 'warning',
  error: 'error',
};

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const optionalString = (v: unknown): string | null | undefined =>
  v === undefined || v === null ? null : typeof v === 'string' ? v : undefined;
const count = (v: unknown): number | null | undefined =>
  v === undefined || v === null
    ? null
    : typeof v === 'number' && Number.isFinite(v) && v >= 0
      ? v
      : undefined;

/** One stdout line (without its newline); null for a blank line. */
export function parseLine(text: string): AgentLine | null {
  if (text.trim() === '') return null;
  const trimmed = text.trim();
  if (!trimmed.startsWith('{')) return { type: 'text', text, why: null };
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch {
    return { type: 'text', text, why: null };
  }
  if (!isObject(value) || typeof value.type !== 'string') return { type: 'text', text, why: null };
  const bad = (why: string): AgentLine => ({ type: 'text', text, why: `${String(value.type)} line: ${why}` });
  switch (value.type) {
    case 'log': {
      if (typeof value.message !== 'string') return bad('message must be a string');
      const level = value.level === undefined ? 'info' : LEVELS[String(value.level)];
      if (level === undefined) return bad('level must be debug, info, warning or error');
      if (value.data !== undefined && !isObject(value.data)) return bad('data must be an object');
      return { type: 'log', level, message: value.message, data: value.data ?? null };
    }
    case 'event': {
      if (typeof value.name !== 'string' || value.name === '') return bad('name must be a non-empty string');
      const source = optionalString(value.source);
      const key = optionalString(value.key);
      if (source === undefined || source === '') return bad('source must be a non-empty string');
      if (key === undefined || key === '') return bad('key must be a non-empty string');
      return { type: 'event', name: value.name, source, payload: value.payload ?? null, key };
    }
    case 'message': {
      if (!('content' in value)) return bad('content is required');
      const to = optionalString(value.to);
      if (to === undefined) return bad('to must be a string');
      // Without one: a message to no one is a broadcast, one to somebody a request.
      const messageType = value.message_type ?? (to === null ? 'broadcast' : 'request');
      if (!(MESSAGE_TYPES as readonly unknown[]).includes(messageType))
        return bad(`message_type must be one of ${MESSAGE_TYPES.join(', ')}`);
      return { type: 'message', to, messageType: messageType as MessageType, content: value.content };
    }
    case 'usage': {
      const tokens = count(value.tokens);
      const inputTokens = count(value.input_tokens);
      const outputTokens = count(value.output_tokens);
      const cost = count(value.cost);
      if (tokens === undefined || inputTokens === undefined || outputTokens === undefined)
        return bad('tokens, input_tokens and output_tokens must be numbers ≥ 0');
      if (cost === undefined) return bad('cost must be a number ≥ 0');
      if (tokens === null && inputTokens === null && outputTokens === null && cost === null)
        return bad('give tokens, input_tokens, output_tokens or cost');
      const model = optionalString(value.model);
      const provider = optionalString(value.provider);
      if (model === undefined || provider === undefined) return bad('model and provider must be strings');
      return {
        type: 'usage',
        tokens: tokens ?? (inputTokens ?? 0) + (outputTokens ?? 0),
        inputTokens,
        outputTokens,
        cost: cost ?? 0,
        model,
        provider,
      };
    }
    case 'artifact': {
      if (typeof value.name !== 'string' || value.name === '') return bad('name must be a non-empty string');
      const content = optionalString(value.content);
      const file = optionalString(value.path);
      const contentType = optionalString(value.content_type);
      if (content === undefined || file === undefined || contentType === undefined)
        return bad('content, path and content_type must be strings');
      if ((content === null) === (file === null)) return bad('give exactly one of content and path');
      const encoding = value.encoding === undefined || value.encoding === null ? null : value.encoding;
      if (encoding !== null && encoding !== 'utf8' && encoding !== 'base64')
        return bad('encoding must be utf8 or base64');
      return { type: 'artifact', name: value.name, contentType, content, encoding, path: file };
    }
    case 'output':
      if (!('output' in value)) return bad('output is required');
      return { type: 'output', output: value.output };
    case 'error': {
      if (typeof value.message !== 'string') return bad('message must be a string');
      if (value.retryable !== undefined && typeof value.retryable !== 'boolean')
        return bad('retryable must be true or false');
      return { type: 'error', message: value.message, retryable: value.retryable ?? null };
    }
    default:
      return bad(`unknown type; one of ${LINE_TYPES.join(', ')}`);
  }
}
