import { ERROR_CODES, type ErrorCode } from './codes.js';

/** One problem with the input, located by a JSON-pointer-like path (`steps[2].needs[0]`). */
export interface FieldIssue {
  readonly field: string;
  readonly message: string;
}

/**
 * The most issues an error carries. One input can be wrong in 200,000 places (an array of wrong
 * items); the first ones say what is wrong, and one more issue counts the rest.
 */
export const MAX_ISSUES = 50;

/** The last issue of a bounded list: it stands for `count` more that are left out. */
export function moreIssues(count: number): FieldIssue {
  return { field: '(more)', message: `and ${count} more problem${count === 1 ? '' : 's'}` };
}

function boundedIssues(issues: readonly FieldIssue[]): FieldIssue[] {
  if (issues.length <= MAX_ISSUES) return [...issues];
  return [...issues.slice(0, MAX_ISSUES - 1), moreIssues(issues.length - (MAX_ISSUES - 1))];
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
    this.issues = Object.freeze(boundedIssues(options.issues ?? []));
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
