export {
  generateApiKey,
  hashApiKey,
  API_KEY_PREFIX,
  API_KEY_PREFIX_LENGTH,
  type GeneratedApiKey,
} from './api-key.js';
export { Authenticator, type RequestInfo } from './authenticate.js';
export {
  bootstrapAdmin,
  rememberServer,
  ADMIN_EMAIL,
  type Bootstrapped,
  type BootstrapOptions,
} from './bootstrap.js';
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
export { RateLimiter, type RateLimiterOptions, type RateLimitDecision } from './rate-limit.js';
export { SCOPES, isScope, roleAllows, keyCovers, callerHas, type Scope, type RouteScope } from './scopes.js';
export { grantFor, type KeyRequest, type OwnKey, type KeyGrant } from './key-minting.js';
export { KeyUses, type KeyUsesOptions } from './key-uses.js';
export {
  hashPassword,
  verifyPassword,
  needsRehash,
  generatePassword,
  parsePasswordHash,
  CURRENT_SCRYPT,
  MIN_PASSWORD_LENGTH,
  MAX_PASSWORD_LENGTH,
  type ScryptParams,
} from './passwords.js';
export {
  SessionManager,
  SESSION_COOKIE,
  CSRF_HEADER,
  csrfTokenFor,
  hashSessionToken,
  generateSessionToken,
  type SessionOptions,
  type SessionCaller,
} from './sessions.js';
export { LoginThrottle, addressSubject, type LoginThrottleOptions } from './login-throttle.js';
export { LoginService, LoginThrottled, LOGIN_REFUSED, type SignedIn } from './login.js';
