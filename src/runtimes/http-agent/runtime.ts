/**
 * Remote (http) agents: each attempt is one POST to the agent's registered endpoint, signed by
 * Swarm, and the answer counts only when the agent signed it with the key it registered. The
 * request goes through the same SSRF guard as builtin/http_request (host resolved once, every
 * address checked, the connection pinned), redirects are not followed, and the answer is bounded.
 * See docs/runtimes.md, "Remote (http) agents", for the wire format.
 */
import { SwarmError } from '../../errors/index.js';
import { parseEd25519PublicKey, verifyEd25519 } from '../../registry/index.js';
import { RuntimeError } from '../errors.js';
import { sendGuarded } from '../http-request.js';
import { readRawBody } from '../http-response.js';
import { withTimeout } from '../signals.js';
import type { AgentInvocation, HttpPolicy, Runtime, RuntimeContext } from '../types.js';
import type { SigningKey } from './signing-key.js';

export const TIMESTAMP_HEADER = 'x-swarm-timestamp';
export const SWARM_SIGNATURE_HEADER = 'x-swarm-signature';
export const AGENT_SIGNATURE_HEADER = 'x-agent-signature';

export interface HttpAgentRuntimeOptions {
  /** Swarm's key: signs every request. */
  signingKey: SigningKey;
  /** The SSRF guard, the time limit of one request and the largest answer. */
  http: Pick<HttpPolicy, 'allowPrivateNetworks' | 'allowedHosts'> &
    Partial<Pick<HttpPolicy, 'timeoutMs' | 'maxResponseBytes'>>;
  /** Seconds since the epoch, for X-Swarm-Timestamp. @default Date.now() / 1000 */
  clock?: () => number;
}

/** What an agent's signature covers: `<timestamp>.<body>`, as UTF-8 bytes. */
export function signedPayload(timestamp: string, body: Buffer | string): Buffer {
  return Buffer.concat([
    Buffer.from(`${timestamp}.`, 'utf8'),
    Buffer.isBuffer(body) ? body : Buffer.from(body),
  ]);
}

export class HttpAgentRuntime implements Runtime {
  private readonly policy: HttpPolicy;
  private readonly clock: () => number;

  constructor(private readonly options: HttpAgentRuntimeOptions) {
    this.policy = {
      allowPrivateNetworks: options.http.allowPrivateNetworks,
      ...(options.http.allowedHosts === undefined ? {} : { allowedHosts: options.http.allowedHosts }),
      timeoutMs: options.http.timeoutMs ?? 300_000,
      maxResponseBytes: options.http.maxResponseBytes ?? 5 * 1024 * 1024,
    };
    this.clock = options.clock ?? (() => Math.floor(Date.now() / 1000));
  }

  async execute(invocation: AgentInvocation, context: RuntimeContext): Promise<unknown> {
    const { agent } = invocation;
    const label = `agent ${agent.name}@${agent.version}`;
    const endpoint = agent.runtime.endpoint;
    const publicKey = agent.runtime.public_key;
    if (typeof endpoint !== 'string' || !URL.canParse(endpoint) || typeof publicKey !== 'string') {
      throw new RuntimeError(
        'INTERNAL',
        `${label}: the http runtime needs an endpoint URL and a public_key`,
        {
          retryable: false,
        },
      );
    }
    const parsedKey = parseEd25519PublicKey(publicKey);
    if ('error' in parsedKey)
      throw new RuntimeError('INTERNAL', `${label}: runtime.public_key ${parsedKey.error}`, {
        retryable: false,
      });
    const url = new URL(endpoint);

    const timestamp = String(this.clock());
    const body = Buffer.from(
      JSON.stringify({
        task_id: invocation.taskId,
        run_id: invocation.runId,
        step_id: invocation.stepId,
        attempt: invocation.attempt,
        input: invocation.input ?? null,
        context: {
          agent: { name: agent.name, version: agent.version },
          // The same for every attempt of this step and item, and for a fork's replay of it.
          idempotency_key: invocation.idempotencyKey,
        },
      }),
      'utf8',
    );
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'Swarm (http agent runtime)',
      [TIMESTAMP_HEADER]: timestamp,
      [SWARM_SIGNATURE_HEADER]: this.options.signingKey.sign(signedPayload(timestamp, body)),
    };
    const where = `POST ${url.origin}${url.pathname}`;
    const started = Date.now();
    const deadline = withTimeout(context.signal, this.policy.timeoutMs);
    let status: number;
    let signature: string | undefined;
    let raw: Buffer;
    try {
      if (url.protocol !== 'http:' && url.protocol !== 'https:')
        throw RuntimeError.forbidden(`only http and https endpoints are called, not ${url.protocol}`);
      const response = await sendGuarded(
        { url, method: 'POST', headers: { ...headers, 'content-length': String(body.length) }, body },
        this.policy,
        deadline.signal,
      );
      status = response.statusCode ?? 0;
      const header = response.headers[AGENT_SIGNATURE_HEADER];
      signature = Array.isArray(header) ? header[0] : header;
      raw = await readRawBody(response, this.policy.maxResponseBytes);
    } catch (error) {
      if (context.signal.aborted) throw context.signal.reason;
      if (deadline.timedOut()) {
        throw RuntimeError.unreachable(`${label}: ${where}: no answer within ${this.policy.timeoutMs} ms`);
      }
      if (error instanceof SwarmError) throw error;
      const code = (error as NodeJS.ErrnoException).code ?? '';
      const tls = /^(CERT_|ERR_TLS_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_)/.test(
        code,
      );
      throw RuntimeError.unreachable(`${label}: ${where}: ${(error as Error).message}`, {
        retryable: !tls,
        cause: error,
        context: { code },
      });
    } finally {
      deadline.dispose();
    }
    context.log('info', `http agent ${where} → ${status}`, { status, duration_ms: Date.now() - started });

    if (status >= 500 || status === 429 || status === 408) {
      throw RuntimeError.unreachable(`${label}: ${where} answered ${status}`, { context: { status } });
    }
    if (status !== 200) {
      throw agentFailed(`${label}: ${where} answered ${status}; a remote agent answers 200`, false, {
        status,
      });
    }
    // Nothing the agent says counts before its signature is checked.
    if (signature === undefined || !verifyEd25519(parsedKey.key, signedPayload(timestamp, raw), signature)) {
      throw agentFailed(
        `${label}: result signature invalid: the answer is not signed with the agent's registered public_key (${signature === undefined ? 'no X-Agent-Signature header' : 'X-Agent-Signature does not verify'})`,
        false,
        { status },
      );
    }
    let answer: unknown;
    try {
      answer = JSON.parse(raw.toString('utf8'));
    } catch {
      throw agentFailed(`${label}: the answer is not JSON ({"output": …} or {"error": …})`, false);
    }
    if (typeof answer !== 'object' || answer === null || Array.isArray(answer)) {
      throw agentFailed(`${label}: the answer must be a JSON object ({"output": …} or {"error": …})`, false);
    }
    const fields = answer as Record<string, unknown>;
    if (fields.error !== undefined && fields.error !== null) {
      const message = typeof fields.error === 'string' ? fields.error : JSON.stringify(fields.error);
      throw agentFailed(`${label}: ${message}`, fields.retryable === true);
    }
    if (!Object.hasOwn(fields, 'output')) {
      throw agentFailed(`${label}: the answer has neither "output" nor "error"`, false);
    }
    return fields.output ?? null;
  }
}

function agentFailed(
  message: string,
  retryable: boolean,
  context: Record<string, unknown> = {},
): RuntimeError {
  return new RuntimeError('INTERNAL', message, { status: 502, retryable, context });
}
