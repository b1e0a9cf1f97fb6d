export {
  generateApiKey,
  hashApiKey,
  API_KEY_PREFIX,
  API_KEY_PREFIX_LENGTH,
  type GeneratedApiKey,
} from './api-key.js';
export { Authenticator, type RequestInfo } from './authenticate.js';
export { bootstrapAdmin, rememberServer, ADMIN_EMAIL, type Bootstrapped } from './bootstrap.js';
export {
  credentialsPath,
  databaseIdentity,
  latest,
  listCredentials,
  readCredentials,
  saveCredential,
  type Credentials,
  type SavedCredential,
} from './credentials.js';
export {
  AuthFailureCounter,
  MAX_ROWS_PER_WINDOW,
  MAX_PREFIXES_PER_ADDRESS,
  type AuthFailure,
  type AuthFailureSink,
  type AuthFailureCounterOptions,
} from './failures.js';
export { SCOPES, isScope, roleAllows, keyCovers, callerHas, type Scope, type RouteScope } from './scopes.js';
