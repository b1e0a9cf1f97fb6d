/**
 * `POST /api/v1/connectors/{name}/test`: whether a connector works, without sending anything that
 * matters — an smtp connector connects, greets and logs in (nodemailer's verify); an http one
 * sends HEAD to its base_url with its headers and auth, through the address guard. A dead server
 * is an answer (`ok: false`), never an error.
 */
import { sendGuarded, type HttpPolicy } from '../runtimes/index.js';
import { Redactor } from '../secrets/index.js';
import type { SmtpMailer } from './mailer.js';
import type { ConnectorResolver } from './resolve.js';

export interface ProbeResult {
  readonly ok: boolean;
  readonly message: string;
}

export async function probeConnector(
  deps: { readonly connectors: ConnectorResolver; readonly mailer: SmtpMailer; readonly policy: HttpPolicy },
  ownerId: string,
  name: string,
  type: string,
  signal: AbortSignal,
): Promise<ProbeResult> {
  if (type === 'smtp') return deps.mailer.verify(ownerId, name, signal);
  if (type !== 'http')
    return { ok: false, message: `a ${type} connector cannot be tested: this Swarm runs http and smtp` };
  let secrets: Readonly<Record<string, string>> = {};
  try {
    const connector = await deps.connectors.http(ownerId, name);
    secrets = connector.secrets;
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(deps.policy.timeoutMs)]);
    const url = new URL(connector.baseUrl);
    const response = await sendGuarded(
      {
        url,
        method: 'HEAD',
        headers: { 'user-agent': 'Swarm (connector test)', ...connector.headers, ...connector.authHeaders },
        body: undefined,
      },
      deps.policy,
      deadline,
    );
    response.resume();
    const status = response.statusCode ?? 0;
    // Reached, and the credentials were not refused: a 404 or 405 on the bare base URL is common.
    const ok = status < 400 || status === 404 || status === 405;
    const why =
      status === 401 || status === 403 ? ' (credentials refused)' : status >= 500 ? ' (server error)' : '';
    return { ok, message: `HEAD ${url.origin}${url.pathname} → ${status}${why}` };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, message: new Redactor(secrets).redactText(message) };
  }
}
