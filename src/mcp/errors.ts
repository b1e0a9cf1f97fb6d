import { RuntimeError } from '../runtimes/index.js';

/**
 * An MCP server that could not be reached, started or spoken to. A RuntimeError, so a task
 * calling one of its tools is retried when `retryable`, and the API answers 424 (Failed Dependency: the server, not Swarm, failed) with the server
 * named: the fault is upstream, not Swarm's and not the caller's.
 */
export class McpServerUnavailable extends RuntimeError {
  /**
   * Whether the server may have received the request. False only when it certainly did not (the
   * connection was refused, or the server answered that it knows no such session): then the
   * request may be sent again on a new connection without running anything twice.
   */
  readonly delivered: boolean;

  constructor(
    readonly server: string,
    reason: string,
    options: { retryable?: boolean; cause?: unknown; delivered?: boolean } = {},
  ) {
    super('MCP_SERVER_UNAVAILABLE', `MCP server "${server}": ${reason}`, {
      retryable: options.retryable ?? true,
      context: { server },
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
    this.delivered = options.delivered ?? true;
    this.name = 'McpServerUnavailable';
  }
}

/** A tool that answered `isError: true`: the same call gives the same answer, so no retry. */
export class McpToolFailed extends RuntimeError {
  constructor(
    readonly server: string,
    readonly tool: string,
    message: string,
  ) {
    super('MCP_TOOL_FAILED', `MCP tool ${server}/${tool} failed: ${message}`, {
      retryable: false,
      context: { server, tool },
    });
    this.name = 'McpToolFailed';
  }
}
