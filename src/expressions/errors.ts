import { SwarmError } from '../errors/index.js';
import { threadHeapMb, type ExpressionLimits } from './limits.js';

export type ExpressionLimit = 'time' | 'depth' | 'result' | 'memory';

/** The longest part of an expression's source an error message quotes. */
const QUOTED = 80;

function quote(source: string): string {
  const text = source.replace(/\s+/g, ' ').trim();
  return JSON.stringify(text.length > QUOTED ? `${text.slice(0, QUOTED - 1)}…` : text);
}

function describe(limit: ExpressionLimit, limits: ExpressionLimits): string {
  switch (limit) {
    case 'time':
      return `exceeded its time limit of ${limits.timeoutMs} ms (SWARM_EXPR_TIMEOUT_MS)`;
    case 'depth':
      return `exceeded its depth limit of ${limits.maxDepth} frames (SWARM_EXPR_MAX_DEPTH); a recursive function that never ends?`;
    case 'result':
      return `exceeded its result size limit of ${limits.maxResultBytes} bytes (SWARM_EXPR_MAX_RESULT_BYTES)`;
    case 'memory':
      return `exceeded its memory limit of ${threadHeapMb(limits)} MiB (derived from SWARM_EXPR_MAX_RESULT_BYTES)`;
  }
}

/**
 * An expression went past one of its limits. Never retryable: the same expression on the same
 * data goes past it again. The engine fails the step whose expression it was.
 */
export class ExpressionLimitError extends SwarmError {
  constructor(
    readonly limit: ExpressionLimit,
    source: string,
    limits: ExpressionLimits,
  ) {
    super('EXPRESSION_LIMIT', `expression ${quote(source)} ${describe(limit, limits)}`, {
      context: { limit, expression: source.slice(0, 1000) },
    });
    this.name = 'ExpressionLimitError';
  }
}

/**
 * An expression evaluated with `inlineOnly` needs an evaluator thread (it is not simple, or it
 * outlived its inline budget). Not the expression's fault: the caller, holding a lock it must not
 * hold for that long, evaluates it again where it holds none.
 */
export class NeedsThreadError extends Error {
  constructor(readonly source: string) {
    super(`expression ${quote(source)} needs an evaluator thread`);
    this.name = 'NeedsThreadError';
  }
}
