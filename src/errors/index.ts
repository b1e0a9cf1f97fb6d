export { ERROR_CODES, type ErrorCode } from './codes.js';
export { SwarmError, InputError, NotFoundError, isSwarmError, type FieldIssue } from './swarm-error.js';
