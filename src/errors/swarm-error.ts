import { ERROR_CODES, type ErrorCode } from './codes.js';

/** One problem with the input, located by a JSON-pointer-like path (`steps[2].needs[0]`). */
export interface FieldIssue {
  readonly field: string;
  readonly message: string;
}

/**
 * The base of every domain error. The API maps it to problem+json, the CLI to a one-line
 * message and a non-zero exit.
 */
export class SwarmError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  readonly issues: readonly FieldIssue[];
  readonly context: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    message: string,
    options: {
      issues?: FieldIssue[];
      context?: Record<string, unknown>;
      cause?: unknown;
      /** Overrides the code's HTTP status (e.g. 413 and 415 are both INPUT_INVALID). */
      status?: number;
    } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SwarmError';
    this.code = code;
    this.status = options.status ?? ERROR_CODES[code].status;
    this.retryable = ERROR_CODES[code].retryable;
    this.issues = Object.freeze([...(options.issues ?? [])]);
    this.context = Object.freeze({ ...(options.context ?? {}) });
  }
}

/** Bad input from a user: names the field. */
export class InputError extends SwarmError {
  constructor(field: string, message: string, more: FieldIssue[] = []) {
    super('INPUT_INVALID', `${field}: ${message}`, { issues: [{ field, message }, ...more] });
    this.name = 'InputError';
  }
}

export class NotFoundError extends SwarmError {
  constructor(what: string, id: string) {
    super('NOT_FOUND', `${what} not found: ${id}`, { context: { what, id } });
    this.name = 'NotFoundError';
  }
}

export function isSwarmError(error: unknown): error is SwarmError {
  return error instanceof SwarmError;
}
