/**
 * The Mailer builtins send through: nodemailer over one of the owner's smtp connectors. The
 * connection goes to an address the worker's HTTP policy allows (the SSRF guard, as for HTTP:
 * no private address unless the policy allows it), pinned to the address that was checked.
 * Each message's Message-ID is `<idempotencyKey@swarm>` and it carries `Idempotency-Key`, so a
 * server (or relay) that dedupes by either delivers a retried step's email once.
 */
import { isIP } from 'node:net';
import nodemailer from 'nodemailer';
import { isSwarmError } from '../errors/index.js';
import {
  guardedAddresses,
  RuntimeError,
  type HttpPolicy,
  type Mailer,
  type OutgoingEmail,
  type SentEmail,
} from '../runtimes/index.js';
import { Redactor } from '../secrets/index.js';
import type { ConnectorResolver, ResolvedSmtpConnector } from './resolve.js';

/** How long connecting and the greeting may take; the whole send is bounded by the policy's timeout. */
const CONNECT_TIMEOUT_MS = 10_000;

export class SmtpMailer implements Mailer {
  constructor(
    private readonly connectors: ConnectorResolver,
    private readonly policy: HttpPolicy,
  ) {}

  async send(ownerId: string, email: OutgoingEmail, signal: AbortSignal): Promise<SentEmail> {
    const connector = await this.connectors.smtp(ownerId, email.connector);
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(this.policy.timeoutMs)]);
    const transport = await transportFor(connector, this.policy, deadline, this.policy.timeoutMs);
    try {
      const info = await transport.sendMail({
        from: connector.config.from,
        to: [...email.to],
        ...(email.cc === undefined ? {} : { cc: [...email.cc] }),
        ...(email.bcc === undefined ? {} : { bcc: [...email.bcc] }),
        subject: email.subject,
        ...(email.text === undefined ? {} : { text: email.text }),
        ...(email.html === undefined ? {} : { html: email.html }),
        attachments: (email.attachments ?? []).map((a) => ({
          filename: a.filename,
          content: a.contentBase64,
          encoding: 'base64',
          ...(a.contentType === undefined ? {} : { contentType: a.contentType }),
        })),
        messageId: messageIdOf(email.idempotencyKey),
        headers: { 'Idempotency-Key': email.idempotencyKey },
        signal: deadline,
      });
      return {
        messageId: info.messageId,
        accepted: info.accepted.map(addressText),
        rejected: info.rejected.map(addressText),
      };
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw mailError(error, connector, deadline.aborted);
    } finally {
      transport.close();
    }
  }

  /** Connects, greets and logs in, sending nothing: `{ok, message}`, never a throw. */
  async verify(
    ownerId: string,
    name: string,
    signal: AbortSignal,
  ): Promise<{ ok: boolean; message: string }> {
    let connector: ResolvedSmtpConnector | undefined;
    try {
      connector = await this.connectors.smtp(ownerId, name);
      const deadline = AbortSignal.any([signal, AbortSignal.timeout(this.policy.timeoutMs)]);
      const transport = await transportFor(connector, this.policy, deadline, this.policy.timeoutMs);
      try {
        await abortable(transport.verify(), deadline);
      } finally {
        transport.close();
      }
      const { host, port, tls } = connector.config;
      return {
        ok: true,
        message: `${host}:${port} (${tls}) accepted the connection${connector.password === null ? '' : ' and the login'}`,
      };
    } catch (error) {
      const mapped =
        connector === undefined || isSwarmError(error) ? error : mailError(error, connector, false);
      const message = mapped instanceof Error ? mapped.message : String(mapped);
      return { ok: false, message: new Redactor(connector?.secrets ?? {}).redactText(message) };
    }
  }
}

/** `<key@swarm>`: the same for every attempt of a step, so a deduping server keeps one. */
export function messageIdOf(idempotencyKey: string): string {
  return `<${idempotencyKey.replace(/[^A-Za-z0-9._-]/g, '_')}@swarm>`;
}

async function transportFor(
  connector: ResolvedSmtpConnector,
  policy: HttpPolicy,
  signal: AbortSignal,
  socketTimeoutMs: number,
) {
  const { host, port, tls, username } = connector.config;
  const addresses = await guardedAddresses(host, policy, signal);
  // Pinned to the checked address; the certificate is still checked against the host name.
  const target = addresses?.[0]?.address ?? host;
  return nodemailer.createTransport({
    host: target,
    port,
    secure: tls === 'implicit',
    requireTLS: tls === 'starttls',
    ignoreTLS: tls === 'none',
    ...(isIP(host) === 0 ? { servername: host, tls: { servername: host } } : {}),
    ...(username === undefined ? {} : { auth: { user: username, pass: connector.password ?? '' } }),
    connectionTimeout: CONNECT_TIMEOUT_MS,
    greetingTimeout: CONNECT_TIMEOUT_MS,
    socketTimeout: socketTimeoutMs,
    logger: false,
  });
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function addressText(address: string | { address: string }): string {
  return typeof address === 'string' ? address : address.address;
}

/** Whose fault and whether to retry: a refused login or address stays refused; the network may pass. */
function mailError(error: unknown, connector: ResolvedSmtpConnector, timedOut: boolean): unknown {
  if (isSwarmError(error)) return error;
  const redactor = new Redactor(connector.secrets);
  const where = `smtp connector "${connector.name}" (${connector.config.host}:${connector.config.port})`;
  const { code, responseCode } = error as { code?: string; responseCode?: number };
  const message = redactor.redactText((error as Error).message ?? String(error));
  if (timedOut) return RuntimeError.unreachable(`${where}: timed out`, { context: { code } });
  if (code === 'EAUTH')
    return new RuntimeError('FORBIDDEN', `${where}: login refused: ${message}`, {
      retryable: false,
      context: { code },
    });
  if (responseCode !== undefined && responseCode >= 500)
    return RuntimeError.unreachable(`${where}: refused: ${message}`, {
      retryable: false,
      context: { code, responseCode },
    });
  if (code === 'ETLS' || /certificate/i.test(message))
    return RuntimeError.unreachable(`${where}: TLS failed: ${message}`, {
      retryable: false,
      context: { code },
    });
  return RuntimeError.unreachable(`${where}: ${message}`, { context: { code, responseCode } });
}
