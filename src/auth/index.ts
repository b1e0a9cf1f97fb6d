export { generateApiKey, hashApiKey, API_KEY_PREFIX, type GeneratedApiKey } from './api-key.js';
export { Authenticator, type RequestInfo } from './authenticate.js';
export { bootstrapAdmin, ADMIN_EMAIL, type Bootstrapped } from './bootstrap.js';
export { readCredentials, writeCredentials, credentialsPath, type Credentials } from './credentials.js';
