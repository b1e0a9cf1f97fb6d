/**
 * The `fetch` the streamable-HTTP transport is given: every request (the POSTs carrying
 * messages, the GET of the event stream, the DELETE ending a session, and each hop of a
 * same-origin redirect the SDK follows) goes through the runtimes' address guard — the host
 * resolved once, every address judged, the connection pinned to them — exactly like
 * builtin/http_request and LLM providers. The global fetch could not pin the connection.
 */
import type { IncomingMessage } from 'node:http';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import { RuntimeError, sendGuarded, type HttpPolicy } from '../runtimes/index.js';

/** Statuses whose responses have no body (the Response constructor refuses one). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

export interface GuardedFetchOptions {
  /** Where it may connect; `timeoutMs` bounds the wait for response headers, not a long event stream. */
  readonly policy: HttpPolicy;
  /** The most one response body may carry (an event stream included). */
  readonly maxResponseBytes: number;
}

/** Ends a body that grows past the limit, with an error the transport reports. */
class ByteLimit extends Transform {
  private seen = 0;
  constructor(private readonly limit: number) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.limit) done(new Error(`response body larger than ${this.limit} bytes`));
    else done(null, chunk);
  }
}

function bodyOf(body: unknown): Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body);
  if (body instanceof ArrayBuffer) return Buffer.from(new Uint8Array(body));
  // The SDK only ever sends JSON text; anything else is a mistake worth saying so.
  throw new TypeError(`unsupported request body type ${Object.prototype.toString.call(body)}`);
}

function headersOf(init: RequestInit | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  new Headers(init?.headers).forEach((value, name) => {
    headers[name] = value;
  });
  return headers;
}

function toResponse(incoming: IncomingMessage, method: string, maxBytes: number): Response {
  const status = incoming.statusCode ?? 502;
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming.headers)) {
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) headers.append(name, one);
  }
  const init = { status, statusText: incoming.statusMessage ?? '', headers };
  if (method === 'HEAD' || NULL_BODY.has(status)) {
    incoming.resume();
    return new Response(null, init);
  }
  const limited = incoming.pipe(new ByteLimit(maxBytes));
  incoming.once('error', (error) => limited.destroy(error));
  return new Response(Readable.toWeb(limited) as unknown as ReadableStream<Uint8Array>, init);
}

export function guardedFetch(options: GuardedFetchOptions): FetchLike {
  const { policy, maxResponseBytes } = options;
  return async (input, init) => {
    const url = new URL(typeof input === 'string' ? input : input.toString());
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw RuntimeError.forbidden(`only http and https URLs may be requested, not ${url.protocol}`);
    const method = (init?.method ?? 'GET').toUpperCase();
    const headers = headersOf(init);
    const body = bodyOf(init?.body);
    if (body !== undefined) headers['content-length'] = String(body.length);
    // The caller's signal ends the request at any time (a closed transport, a cancelled task);
    // the policy's timeout only until the headers arrive: an event stream may then stay open.
    const controller = new AbortController();
    const parent = init?.signal ?? undefined;
    const onAbort = () => controller.abort(parent?.reason);
    if (parent?.aborted === true) onAbort();
    else parent?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(
      () => controller.abort(new Error(`no answer within ${policy.timeoutMs} ms`)),
      policy.timeoutMs,
    );
    try {
      const incoming = await sendGuarded({ url, method, headers, body }, policy, controller.signal);
      incoming.once('close', () => parent?.removeEventListener('abort', onAbort));
      return toResponse(incoming, method, maxResponseBytes);
    } catch (error) {
      parent?.removeEventListener('abort', onAbort);
      if (parent?.aborted === true) throw parent.reason;
      if (controller.signal.aborted) throw controller.signal.reason as Error;
      throw error;
    } finally {
      clearTimeout(timer);
    }
  };
}
