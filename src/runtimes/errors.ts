import { ERROR_CODES, SwarmError, type ErrorCode, type FieldIssue } from '../errors/index.js';

/**
 * An attempt that failed, and whether trying again could help. It is a SwarmError (the API and
 * CLI render it like any other), but `retryable` is decided per failure rather than per code:
 * a refused TLS certificate and a reset connection are both "server unreachable", and only the
 * second is worth a retry. The worker reads `retryable` to choose between retry and failure.
 */
export class RuntimeError extends SwarmError {
  override readonly retryable: boolean;

  constructor(
    code: ErrorCode,
    message: string,
    options: {
      retryable?: boolean;
      issues?: FieldIssue[];
      context?: Record<string, unknown>;
      cause?: unknown;
      status?: number;
    } = {},
  ) {
    super(code, message, options);
    this.name = 'RuntimeError';
    this.retryable = options.retryable ?? ERROR_CODES[code].retryable;
  }

  /** The input cannot work however often it is tried. */
  static invalidInput(field: string, message: string, more: FieldIssue[] = []): RuntimeError {
    return new RuntimeError('INPUT_INVALID', `${field}: ${message}`, {
      issues: [{ field, message }, ...more],
    });
  }

  /** Refused by policy (an address, a scheme, a size): retrying gets the same answer. */
  static forbidden(message: string, context: Record<string, unknown> = {}): RuntimeError {
    return new RuntimeError('FORBIDDEN', message, { context });
  }

  /** A network failure that may well pass: connection refused or reset, DNS, timeout. */
  static unreachable(
    message: string,
    options: { cause?: unknown; retryable?: boolean; context?: Record<string, unknown> } = {},
  ): RuntimeError {
    return new RuntimeError('SERVER_UNREACHABLE', message, { retryable: true, ...options });
  }
}

export function isRuntimeError(error: unknown): error is RuntimeError {
  return error instanceof RuntimeError;
}
