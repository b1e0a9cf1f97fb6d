import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { isSwarmError, SwarmError } from '../../errors/index.js';
import { isDatabaseUnavailable } from '../../storage/index.js';

/**
 * The JSON-RPC error codes of Swarm's MCP endpoint. The JSON-RPC ones and MCP's own
 * (-32002: no such resource) where they fit; -32003 for a key that lacks a scope, from the range
 * JSON-RPC leaves to servers. Each error's `data.code` is Swarm's stable code (docs/errors.md).
 */
export const MCP_ERROR = {
  invalidRequest: ErrorCode.InvalidRequest,
  invalidParams: ErrorCode.InvalidParams,
  internal: ErrorCode.InternalError,
  resourceNotFound: -32002,
  forbidden: -32003,
} as const;

function jsonRpcCodeOf(error: SwarmError): number {
  switch (error.code) {
    case 'INPUT_INVALID':
      return MCP_ERROR.invalidParams;
    case 'NOT_FOUND':
      return MCP_ERROR.resourceNotFound;
    case 'INSUFFICIENT_SCOPE':
    case 'FORBIDDEN':
      return MCP_ERROR.forbidden;
    default:
      return error.status >= 500 ? MCP_ERROR.internal : MCP_ERROR.invalidRequest;
  }
}

/** A SwarmError as the MCP error a client sees: the message, and Swarm's code in `data`. */
export function mcpErrorOf(error: SwarmError): McpError {
  return new McpError(jsonRpcCodeOf(error), error.message, {
    code: error.code,
    retryable: error.retryable,
    ...(error.issues.length > 0 ? { errors: [...error.issues] } : {}),
    ...(typeof error.context.scope === 'string' ? { scope: error.context.scope } : {}),
  });
}

/**
 * Any error a handler threw as the MCP error to answer with. Swarm's own errors keep their
 * message; anything else is a defect, reported to `onDefect` and answered as "internal error"
 * only (its message may hold SQL or paths), like the API's 500 problem.
 */
export function toMcpError(error: unknown, onDefect: (error: unknown) => void): McpError {
  if (error instanceof McpError) return error;
  if (isSwarmError(error) && error.status < 500) return mcpErrorOf(error);
  if (isDatabaseUnavailable(error) || (isSwarmError(error) && error.code === 'DB_UNREACHABLE'))
    return mcpErrorOf(
      new SwarmError('DB_UNREACHABLE', 'the database is unavailable; try again shortly', { cause: error }),
    );
  onDefect(error);
  return new McpError(MCP_ERROR.internal, 'internal error', { code: 'INTERNAL', retryable: false });
}
