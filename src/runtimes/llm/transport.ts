/**
 * One POST to a provider under the worker's HttpPolicy: the same SSRF guard as
 * builtin/http_request (the host resolved once, every address checked, the connection pinned to
 * them), the response bounded and decoded by the same reader. Redirects are not followed: an API
 * endpoint has no reason to redirect, and following one would carry the key elsewhere.
 */
import { SwarmError } from '../../errors/index.js';
import { RuntimeError } from '../errors.js';
import { sendGuarded } from '../http-request.js';
import { readResponse, type HttpRequestOutput } from '../http-response.js';
import { withTimeout } from '../signals.js';
import type { HttpPolicy } from '../types.js';

/** Origin and path: what may be logged or shown of a provider URL. */
export function describeUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

export async function postJson(
  url: URL,
  headers: Record<string, string>,
  body: unknown,
  policy: HttpPolicy,
  parent: AbortSignal,
): Promise<HttpRequestOutput> {
  const deadline = withTimeout(parent, policy.timeoutMs);
  const where = `POST ${describeUrl(url)}`;
  try {
    const payload = Buffer.from(JSON.stringify(body), 'utf8');
    const response = await sendGuarded(
      {
        url,
        method: 'POST',
        headers: { ...headers, 'content-length': String(payload.length) },
        body: payload,
      },
      policy,
      deadline.signal,
    );
    return await readResponse(response, 'POST', policy.maxResponseBytes);
  } catch (error) {
    if (parent.aborted) throw parent.reason;
    if (deadline.timedOut()) {
      throw RuntimeError.unreachable(`${where}: no answer within ${policy.timeoutMs} ms`, {
        context: { timeoutMs: policy.timeoutMs },
      });
    }
    if (error instanceof SwarmError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? '';
    // A refused certificate stays refused; anything else on the network may pass.
    const tls = /^(CERT_|ERR_TLS_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_)/.test(
      code,
    );
    throw RuntimeError.unreachable(`${where}: ${(error as Error).message}`, {
      retryable: !tls,
      context: { code },
    });
  } finally {
    deadline.dispose();
  }
}
