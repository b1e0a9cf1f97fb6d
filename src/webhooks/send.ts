import type { IncomingMessage } from 'node:http';
import { isRuntimeError, sendGuarded, type HttpPolicy } from '../runtimes/index.js';
import { signatureHeader } from './signature.js';

/** How much of a failed response's body is kept, as a hint in `last_error`. */
const ERROR_SNIPPET_CHARS = 200;

/** What one attempt came to. */
export interface AttemptResult {
  readonly statusCode: number | null;
  readonly latencyMs: number;
  /** Null on a 2xx; otherwise a short description, never the secret or the signature. */
  readonly error: string | null;
  /** Retrying cannot help: the address policy refused the URL, or the URL cannot be sent to. */
  readonly permanent: boolean;
  /** The receiver's `Retry-After`, when it sent one. */
  readonly retryAfter: string | undefined;
}

export interface SignedRequest {
  readonly deliveryId: string;
  readonly url: string;
  readonly secret: string;
  /** The exact bytes that are signed and sent. */
  readonly body: string;
  readonly now: Date;
}

/**
 * Sends one signed POST through the runtimes' address policy (no redirects: a 3xx is a failure,
 * as Standard Webhooks recommends). The timeout covers connecting, sending and the response's
 * head and error snippet.
 */
export async function sendSigned(request: SignedRequest, policy: HttpPolicy): Promise<AttemptResult> {
  const started = Date.now();
  const timestamp = Math.floor(request.now.getTime() / 1000);
  const signal = AbortSignal.timeout(policy.timeoutMs);
  let url: URL;
  try {
    url = new URL(request.url);
  } catch {
    return failure(started, null, 'the webhook URL is not a valid URL', true);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return failure(started, null, `only http and https URLs are sent to, not ${url.protocol}`, true);
  const body = Buffer.from(request.body, 'utf8');
  try {
    const response = await sendGuarded(
      {
        url,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Swarm-Webhooks/1',
          'webhook-id': request.deliveryId,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signatureHeader(request.secret, request.deliveryId, timestamp, request.body),
        },
        body,
      },
      policy,
      signal,
    );
    const status = response.statusCode ?? 0;
    const retryAfter = header(response, 'retry-after');
    if (status >= 200 && status < 300) {
      response.resume(); // the body is not wanted; let the socket go
      return {
        statusCode: status,
        latencyMs: Date.now() - started,
        error: null,
        permanent: false,
        retryAfter,
      };
    }
    const snippet = await readSnippet(response, signal);
    const error = `HTTP ${status}${snippet === '' ? '' : `: ${snippet}`}`;
    return { statusCode: status, latencyMs: Date.now() - started, error, permanent: false, retryAfter };
  } catch (error) {
    if (signal.aborted) return failure(started, null, `timed out after ${policy.timeoutMs} ms`, false);
    // The policy's refusals (a private address, …) get the same answer however often they are tried.
    const permanent = isRuntimeError(error) && !error.retryable;
    return failure(started, null, describeError(error), permanent);
  }
}

/** The address guard's refusal in webhook terms (its own message speaks of builtin/http_request). */
function describeError(error: unknown): string {
  if (isRuntimeError(error) && error.code === 'FORBIDDEN' && typeof error.context.reason === 'string') {
    const { host, address, reason } = error.context;
    const shown = host === address ? String(address) : `"${String(host)}" (${String(address)})`;
    return `refused to contact ${shown}: ${reason} address; webhooks reach only public addresses unless the server allows private networks (SWARM_ALLOW_PRIVATE_NETWORKS) or lists the host`;
  }
  return oneLine((error as Error).message ?? String(error));
}

function failure(
  started: number,
  statusCode: number | null,
  error: string,
  permanent: boolean,
): AttemptResult {
  return { statusCode, latencyMs: Date.now() - started, error, permanent, retryAfter: undefined };
}

function header(response: IncomingMessage, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The first characters of a response body, read no further than needed. */
async function readSnippet(response: IncomingMessage, signal: AbortSignal): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of response) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (size >= ERROR_SNIPPET_CHARS * 4 || signal.aborted) break;
    }
  } catch {
    // A broken body still leaves the status code, which is what matters.
  } finally {
    response.destroy();
  }
  const text = oneLine(Buffer.concat(chunks).toString('utf8'));
  return text.length > ERROR_SNIPPET_CHARS ? `${text.slice(0, ERROR_SNIPPET_CHARS)}…` : text;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
