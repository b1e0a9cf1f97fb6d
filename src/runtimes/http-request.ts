/**
 * builtin/http_request: one HTTP(S) request under the worker's HttpPolicy. Sent with node:http
 * rather than fetch because fetch cannot pin a connection to the addresses the SSRF guard
 * checked (see host-guard.ts) and follows redirects without asking; here every hop is checked.
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { SwarmError } from '../errors/index.js';
import { Redactor } from '../secrets/index.js';
import type { ResolvedHttpConnector } from './connectors.js';
import { RuntimeError } from './errors.js';
import { checkHost, bareHost } from './host-guard.js';
import { readResponse, type HttpRequestOutput } from './http-response.js';
import { withTimeout } from './signals.js';
import type { HttpPolicy, RuntimeContext } from './types.js';

export interface HttpRequestInput {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: unknown;
  /** One of the owner's http connectors: `url` may then be relative to its base_url. */
  connector?: string;
  /**
   * false: send no `Idempotency-Key` header. By default the request carries the step's key (the
   * same for every attempt and every fork's replay of it) unless `headers` set one already.
   */
  idempotency_key?: boolean;
}

export const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
// Set by the transport from the body and connection; a user's value would only contradict it.
const MANAGED_HEADERS = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
]);
// Credentials meant for one origin are not handed to another by a redirect.
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];

/** One request of a chain of redirects (or a single POST). */
export interface Hop {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body: Buffer | undefined;
  /** Headers besides Authorization and Cookie that carry credentials (a connector's API key). */
  credentialHeaders?: readonly string[];
}

export async function httpRequest(
  input: HttpRequestInput,
  policy: HttpPolicy,
  context: RuntimeContext,
  options: {
    /** One of the owner's http connectors, resolved: its base URL, headers and auth apply. */
    connector?: ResolvedHttpConnector;
    /** The attempt's key (AgentInvocation.idempotencyKey); absent: none is sent. */
    idempotencyKey?: string;
  } = {},
): Promise<HttpRequestOutput> {
  const { connector, idempotencyKey } = options;
  const hop = connector === undefined ? firstHop(input) : connectorHop(input, connector);
  if (idempotencyKey !== undefined && input.idempotency_key !== false)
    hop.headers['idempotency-key'] ??= idempotencyKey;
  if (connector === undefined) return send(hop, input.url, policy, context);
  // The connector's secrets are the owner's, not granted to the step: nothing it produces keeps them.
  const redactor = new Redactor(connector.secrets);
  try {
    return redactor.redact(await send(hop, input.url, policy, context));
  } catch (error) {
    throw error === context.signal.reason ? error : redactor.redactError(error);
  }
}

async function send(
  first: Hop,
  inputUrl: string,
  policy: HttpPolicy,
  context: RuntimeContext,
): Promise<HttpRequestOutput> {
  let hop = first;
  const deadline = withTimeout(context.signal, policy.timeoutMs);
  const started = Date.now();
  try {
    for (let redirects = 0; ; redirects++) {
      const response = await sendGuarded(hop, policy, deadline.signal);
      const location = response.headers.location;
      if (!REDIRECTS.has(response.statusCode ?? 0) || location === undefined) {
        const output = await readResponse(response, hop.method, policy.maxResponseBytes);
        context.log('info', `http_request ${hop.method} ${describeUrl(hop.url)} → ${output.status}`, {
          status: output.status,
          redirects,
          duration_ms: Date.now() - started,
        });
        return output;
      }
      response.resume(); // the redirect's own body is not wanted; let the socket go
      if (redirects === MAX_REDIRECTS) {
        throw RuntimeError.unreachable(`${describeUrl(inputUrl)}: stopped after ${MAX_REDIRECTS} redirects`, {
          retryable: false,
          context: { redirects },
        });
      }
      const next = nextHop(hop, response.statusCode!, location);
      context.log('debug', `http_request redirect ${response.statusCode} → ${describeUrl(next.url)}`);
      hop = next;
    }
  } catch (error) {
    throw mapError(error, context.signal, deadline.timedOut(), policy, hop);
  } finally {
    deadline.dispose();
  }
}

/** A scheme at the start: an absolute URL (`https:`, `mailto:`), not a path relative to a base. */
const ABSOLUTE = /^[a-z][a-z0-9+.-]*:/i;

/**
 * The request through a connector: `url` relative to its base_url (joined as a path, as HTTP
 * clients' `baseURL` does), or absolute under it — never elsewhere, which would hand its
 * credentials to another server. Its headers go under the request's, its auth over them.
 */
function connectorHop(input: HttpRequestInput, connector: ResolvedHttpConnector): Hop {
  const base = connector.baseUrl;
  let url: string;
  if (ABSOLUTE.test(input.url)) {
    const within = input.url === base || input.url.startsWith(base.endsWith('/') ? base : `${base}/`);
    if (!within)
      throw RuntimeError.invalidInput(
        'input.url',
        `must be relative to connector "${connector.name}"'s base_url (or start with it): its credentials go nowhere else`,
      );
    url = input.url;
  } else {
    const rest = input.url.replace(/^\/+/, '');
    url = rest === '' ? base : `${base.replace(/\/+$/, '')}/${rest}`;
  }
  const hop = firstHop({ ...input, url, headers: { ...connector.headers, ...input.headers } });
  for (const [name, value] of Object.entries(connector.authHeaders)) hop.headers[name.toLowerCase()] = value;
  const credentialHeaders = Object.keys(connector.authHeaders).map((name) => name.toLowerCase());
  return { ...hop, credentialHeaders };
}

function firstHop(input: HttpRequestInput): Hop {
  let url: URL;
  try {
    url = new URL(input.url);
  } catch {
    throw RuntimeError.invalidInput('input.url', `not a valid URL: "${input.url}"`);
  }
  checkScheme(url, 'input.url');
  const method = (input.method ?? 'GET').toUpperCase();
  const headers: Record<string, string> = {
    'user-agent': 'Swarm (builtin/http_request)',
    'accept-encoding': 'gzip, deflate, br',
  };
  for (const [name, value] of Object.entries(input.headers ?? {})) {
    if (!MANAGED_HEADERS.has(name.toLowerCase())) headers[name.toLowerCase()] = value;
  }
  // JSON null means "no body" as much as a missing key does: mappings often produce it.
  if (input.body === undefined || input.body === null) return { url, method, headers, body: undefined };
  if (method === 'GET' || method === 'HEAD') {
    throw RuntimeError.invalidInput('input.body', `a ${method} request cannot have a body`);
  }
  const isText = typeof input.body === 'string';
  headers['content-type'] ??= isText ? 'text/plain; charset=utf-8' : 'application/json';
  const body = Buffer.from(isText ? (input.body as string) : JSON.stringify(input.body), 'utf8');
  return { url, method, headers, body };
}

function checkScheme(url: URL, field: string): void {
  if (url.protocol === 'http:' || url.protocol === 'https:') return;
  const message = `only http and https URLs may be requested, not ${url.protocol.slice(0, -1)}:`;
  throw field === 'input.url'
    ? RuntimeError.invalidInput(field, message)
    : RuntimeError.forbidden(`redirect refused: ${message}`, { scheme: url.protocol });
}

/** The next request, as browsers and fetch do it: 303 (and 301/302 after POST) become GET. */
function nextHop(hop: Hop, status: number, location: string): Hop {
  let url: URL;
  try {
    url = new URL(location, hop.url);
  } catch {
    throw RuntimeError.unreachable(`redirect to an invalid Location "${location}"`, { retryable: false });
  }
  checkScheme(url, 'Location');
  const headers = { ...hop.headers };
  if (url.origin !== hop.url.origin)
    for (const name of [...CREDENTIAL_HEADERS, ...(hop.credentialHeaders ?? [])]) delete headers[name];
  const toGet =
    (status === 303 && hop.method !== 'HEAD') ||
    ((status === 301 || status === 302) && hop.method === 'POST');
  const credentialHeaders = hop.credentialHeaders ?? [];
  if (!toGet) return { url, method: hop.method, headers, body: hop.body, credentialHeaders };
  delete headers['content-type'];
  return { url, method: 'GET', headers, body: undefined, credentialHeaders };
}

/**
 * Sends one request through the address policy: the host is checked and the connection pinned
 * to the checked address, with no pooled socket. Every outgoing call of the runtimes (builtin
 * http_request, LLM providers, remote agents) goes through here.
 */
export async function sendGuarded(
  hop: Hop,
  policy: HttpPolicy,
  signal: AbortSignal,
): Promise<IncomingMessage> {
  signal.throwIfAborted();
  // The guard runs on every hop, so a redirect cannot lead anywhere the first URL could not.
  const lookup: LookupFunction | undefined = await checkHost(hop.url.hostname, policy, signal);
  const transport = hop.url.protocol === 'https:' ? https : http;
  const auth =
    hop.url.username === ''
      ? undefined
      : `${decodeURIComponent(hop.url.username)}:${decodeURIComponent(hop.url.password)}`;
  return new Promise<IncomingMessage>((resolve, reject) => {
    try {
      const request = transport.request({
        protocol: hop.url.protocol,
        hostname: bareHost(hop.url.hostname),
        port: hop.url.port === '' ? undefined : Number(hop.url.port),
        path: `${hop.url.pathname}${hop.url.search}`,
        method: hop.method,
        headers: hop.headers,
        auth,
        lookup,
        signal,
        // No pooled sockets: a kept-alive connection would outlive the policy check it passed.
        agent: false,
      });
      request.once('response', resolve);
      request.once('error', reject);
      request.end(hop.body);
    } catch (error) {
      reject(error as Error); // invalid header names or values are thrown synchronously
    }
  });
}

/** Origin and path only: queries and credentials often carry secrets, and logs keep them. */
function describeUrl(url: URL | string): string {
  try {
    const parsed = typeof url === 'string' ? new URL(url) : url;
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

const TLS_CODE = /^(CERT_|ERR_TLS_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_)/;
const INVALID_REQUEST_CODES = new Set([
  'ERR_INVALID_HTTP_TOKEN',
  'ERR_INVALID_CHAR',
  'ERR_HTTP_INVALID_HEADER_VALUE',
  'ERR_UNESCAPED_CHARACTERS',
]);

/**
 * Whose fault and whether to retry: the worker's abort is passed back as its own reason, our
 * refusals as they are, a broken request as invalid input, and network trouble as retryable.
 */
function mapError(
  error: unknown,
  parent: AbortSignal,
  timedOut: boolean,
  policy: HttpPolicy,
  hop: Hop,
): unknown {
  if (parent.aborted) return parent.reason;
  const where = `${hop.method} ${describeUrl(hop.url)}`;
  if (timedOut) {
    return RuntimeError.unreachable(`${where}: timed out after ${policy.timeoutMs} ms`, {
      context: { timeoutMs: policy.timeoutMs },
    });
  }
  if (error instanceof SwarmError) return error;
  const code = (error as NodeJS.ErrnoException).code ?? '';
  const message = (error as Error).message;
  if (INVALID_REQUEST_CODES.has(code)) return RuntimeError.invalidInput('input.headers', message);
  if (TLS_CODE.test(code)) {
    return RuntimeError.unreachable(`${where}: TLS certificate refused: ${message}`, {
      retryable: false,
      cause: error,
      context: { code },
    });
  }
  if (code.startsWith('Z_')) {
    return RuntimeError.unreachable(`${where}: cannot decode the response body: ${message}`, {
      retryable: false,
      cause: error,
      context: { code },
    });
  }
  return RuntimeError.unreachable(`${where}: ${message}`, { cause: error, context: { code } });
}
