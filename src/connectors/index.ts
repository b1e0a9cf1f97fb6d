/**
 * Connectors (seed 004): an owner's settings for reaching outside services — `http` (base URL,
 * default headers, auth from a secret) for builtin/http_request, and `smtp` for
 * builtin/send_email. Credentials stay in the owner's secrets, named here, read when used.
 * See docs/connectors.md.
 */
export {
  CONNECTOR_TYPES,
  CONNECTOR_NAME,
  checkConnectorName,
  checkConnectorType,
  checkConnectorConfig,
  secretOf,
  type ConnectorType,
  type ConnectorConfig,
  type HttpConnectorConfig,
  type SmtpConnectorConfig,
  type HttpAuth,
} from './config.js';
export { ConnectorResolver, type ResolvedSmtpConnector } from './resolve.js';
export { SmtpMailer, messageIdOf } from './mailer.js';
export { StoreArtifactSource, MAX_ATTACHMENT_BYTES } from './artifacts.js';
export { probeConnector, type ProbeResult } from './probe.js';
