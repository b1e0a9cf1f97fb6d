/**
 * The limits every JSONata evaluation runs under, process-wide: set once at process start from
 * the configuration (`configureExpressionLimits`), the defaults otherwise (tests, the bench).
 */
export interface ExpressionLimits {
  /** Wall-clock time one evaluation may take, from when it starts (SWARM_EXPR_TIMEOUT_MS). */
  readonly timeoutMs: number;
  /** Nested JSONata evaluation frames (SWARM_EXPR_MAX_DEPTH): recursion ends here. */
  readonly maxDepth: number;
  /** Largest result, as JSON bytes (SWARM_EXPR_MAX_RESULT_BYTES). */
  readonly maxResultBytes: number;
}

export const DEFAULT_EXPRESSION_LIMITS: ExpressionLimits = Object.freeze({
  timeoutMs: 1000,
  maxDepth: 500,
  maxResultBytes: 16 * 1024 * 1024,
});

/**
 * How long an expression classified as simple may run in the caller's thread before it is
 * handed to an evaluator thread (and run there again under the full time limit). Simple
 * expressions take microseconds; this only bounds how long a pathological one (a predicate
 * over a huge list) holds the event loop.
 */
export const INLINE_BUDGET_MS = 50;

let current: ExpressionLimits = DEFAULT_EXPRESSION_LIMITS;

/**
 * The options object every main-thread compilation shares with jsonata. jsonata reads
 * `timeout` and `stack` from it on each evaluation, so reconfiguring updates expressions
 * already compiled and cached.
 */
export const INLINE_OPTIONS: { timeout: number; stack: number } = {
  timeout: Math.min(DEFAULT_EXPRESSION_LIMITS.timeoutMs, INLINE_BUDGET_MS),
  stack: DEFAULT_EXPRESSION_LIMITS.maxDepth,
};

export function expressionLimits(): ExpressionLimits {
  return current;
}

/** Sets the process's limits (unset fields keep their defaults). */
export function configureExpressionLimits(limits: Partial<ExpressionLimits> = {}): ExpressionLimits {
  current = Object.freeze({ ...DEFAULT_EXPRESSION_LIMITS, ...limits });
  INLINE_OPTIONS.timeout = Math.min(current.timeoutMs, INLINE_BUDGET_MS);
  INLINE_OPTIONS.stack = current.maxDepth;
  return current;
}

/**
 * The heap an evaluator thread gets: room for a context and a result several times the result
 * limit (objects take far more memory than their JSON): 512 MiB for the default 16 MiB, never
 * less than 256 MiB.
 */
export function threadHeapMb(limits: ExpressionLimits): number {
  return Math.min(8192, Math.max(256, Math.ceil((limits.maxResultBytes / 1024 / 1024) * 32)));
}
