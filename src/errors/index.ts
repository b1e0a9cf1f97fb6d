export { ERROR_CODES, type ErrorCode } from './codes.js';
export {
  SwarmError,
  InputError,
  NotFoundError,
  isSwarmError,
  MAX_ISSUES,
  moreIssues,
  type FieldIssue,
} from './swarm-error.js';
