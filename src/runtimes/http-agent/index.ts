/** Remote (http) agents and Swarm's signing key. See docs/runtimes.md, "Remote (http) agents". */
export {
  HttpAgentRuntime,
  signedPayload,
  TIMESTAMP_HEADER,
  SWARM_SIGNATURE_HEADER,
  AGENT_SIGNATURE_HEADER,
  type HttpAgentRuntimeOptions,
} from './runtime.js';
export { SigningKey, openSigningKey, parseSigningKeyPem } from './signing-key.js';
