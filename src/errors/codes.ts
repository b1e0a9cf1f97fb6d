/**
 * Every error Swarm reports, declared once. The `code` is stable: clients and scripts match on it.
 * A test checks that each code here is documented in docs/errors.md.
 */
export const ERROR_CODES = {
  CONFIG_INVALID: { status: 500, title: 'Invalid configuration', retryable: false },
  INPUT_INVALID: { status: 400, title: 'Invalid input', retryable: false },
  UNAUTHENTICATED: { status: 401, title: 'Authentication required', retryable: false },
  FORBIDDEN: { status: 403, title: 'Forbidden', retryable: false },
  INSUFFICIENT_SCOPE: { status: 403, title: 'Insufficient scope', retryable: false },
  CSRF: { status: 403, title: 'CSRF token missing or wrong', retryable: false },
  NOT_FOUND: { status: 404, title: 'Not found', retryable: false },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed', retryable: false },
  CONFLICT: { status: 409, title: 'Conflict', retryable: false },
  RATE_LIMITED: { status: 429, title: 'Too many requests', retryable: true },
  DB_UNREACHABLE: { status: 503, title: 'Database unreachable', retryable: true },
  DB_URL_INVALID: { status: 400, title: 'Invalid database URL', retryable: false },
  SCHEMA_TOO_NEW: { status: 500, title: 'Database schema is newer than this Swarm', retryable: false },
  SCHEMA_OUTDATED: { status: 500, title: 'Database schema is not migrated', retryable: false },
  MIGRATION_FAILED: { status: 500, title: 'Migration failed', retryable: false },
  COPY_TARGET_NOT_EMPTY: { status: 409, title: 'Copy target is not empty', retryable: false },
  COPY_FAILED: { status: 500, title: 'Copy failed', retryable: false },
  SCHEMA_MISMATCH: { status: 500, title: 'Database schemas differ', retryable: false },
  COPY_VERIFY_FAILED: { status: 500, title: 'Copy verification failed', retryable: false },
  REGISTRY_NOT_FOUND: { status: 404, title: 'Registry file not found', retryable: false },
  REGISTRY_INVALID: { status: 400, title: 'Not a Swarm Runtime registry', retryable: false },
  RUN_NOT_COMPLETED: { status: 409, title: 'Run did not complete', retryable: false },
  EXPRESSION_LIMIT: { status: 400, title: 'Expression limit exceeded', retryable: false },
  AGENT_LOOP_LIMIT: { status: 422, title: 'Agent loop limit reached', retryable: false },
  DELEGATION_LIMIT: { status: 422, title: 'Delegation limit reached', retryable: false },
  HANDOFF_LIMIT: { status: 422, title: 'Hand-off limit reached', retryable: false },
  BUDGET_EXCEEDED: { status: 422, title: 'Budget exceeded', retryable: false },
  MCP_SERVER_UNAVAILABLE: { status: 424, title: 'MCP server unavailable', retryable: true },
  MCP_TOOL_FAILED: { status: 422, title: 'MCP tool failed', retryable: false },
  TASK_NOT_COMPLETED: { status: 409, title: 'Task did not complete', retryable: false },
  SECRET_UNREADABLE: { status: 500, title: 'Secret cannot be decrypted', retryable: false },
  MASTER_KEY_MISSING: { status: 500, title: 'Master key not configured', retryable: false },
  MASTER_KEY_READONLY: { status: 409, title: 'Master keys are managed outside Swarm', retryable: false },
  SERVER_UNREACHABLE: { status: 503, title: 'Swarm server unreachable', retryable: true },
  PORT_IN_USE: { status: 409, title: 'Port in use', retryable: false },
  INTERNAL: { status: 500, title: 'Internal error', retryable: false },
} as const satisfies Record<string, { status: number; title: string; retryable: boolean }>;

export type ErrorCode = keyof typeof ERROR_CODES;
