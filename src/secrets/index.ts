/**
 * Secrets: values encrypted at rest with AES-256-GCM under versioned master keys, handed only
 * to steps whose agent has a `secret:NAME` permission, and redacted from what steps produce.
 * See docs/secrets.md.
 */
export {
  SecretsService,
  rotateMasterKey,
  grantedSecretNames,
  checkSecretName,
  checkSecretValue,
  SECRET_NAME_PATTERN,
  SECRET_VALUE_MAX_BYTES,
  type SetSecretInput,
  type RotationReport,
} from './service.js';
export {
  openKeyring,
  generateMasterKey,
  type Keyring,
  type KeyringOptions,
  type MasterKey,
} from './keyring.js';
export {
  encryptValue,
  decryptValue,
  sealText,
  openText,
  associatedData,
  NONCE_BYTES,
  TAG_BYTES,
  type SecretBinding,
} from './crypto.js';
export { Redactor, redactedForms, MIN_REDACTED_LENGTH, type RedactorOptions } from './redact.js';
export type { SecretRecord } from '../storage/index.js';
