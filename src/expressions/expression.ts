import jsonata from 'jsonata';
import { runsInline } from './classify.js';
import { ExpressionLimitError, NeedsThreadError } from './errors.js';
import { expressionLimits, INLINE_OPTIONS } from './limits.js';
import { evaluateInThread } from './pool.js';
import { jsonExceeds } from './size.js';

export type ExprNode = jsonata.ExprNode;

export interface EvaluateOptions {
  /** Evaluate in the caller's thread or not at all (NeedsThreadError). */
  readonly inlineOnly?: boolean;
}

/**
 * A compiled JSONata expression whose every evaluation is bounded by the process's limits
 * (limits.ts): a time limit, a depth limit and a result size limit, each failing with an
 * ExpressionLimitError that names it. Simple expressions (classify.ts) run in the caller's
 * thread under jsonata's per-node checks; the rest run in an evaluator thread (pool.ts), as
 * does a simple one that outlives its short inline budget, so no expression holds the event
 * loop for long or grows the process's heap without bound.
 */
export class Expression {
  private readonly compiled: jsonata.Expression;
  /** Whether it runs in the caller's thread. */
  readonly inline: boolean;

  /** Throws jsonata's error (with `position`) when `source` does not parse. */
  constructor(readonly source: string) {
    this.compiled = jsonata(source, INLINE_OPTIONS);
    this.inline = runsInline(this.compiled.ast());
  }

  ast(): ExprNode {
    return this.compiled.ast();
  }

  /**
   * `inlineOnly`: never wait for an evaluator thread; throw NeedsThreadError instead (a caller
   * holding a lock evaluates again once it holds none).
   */
  async evaluate(context: Record<string, unknown>, options: EvaluateOptions = {}): Promise<unknown> {
    const limits = expressionLimits();
    if (!this.inline) {
      if (options.inlineOnly === true) throw new NeedsThreadError(this.source);
      return evaluateInThread(this.source, context, limits);
    }
    let result: unknown;
    try {
      result = await this.compiled.evaluate(context);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === 'D1011') throw new ExpressionLimitError('depth', this.source, limits);
      // Past its inline budget: again where it can be stopped, under the full time limit.
      if (code === 'D1012') {
        if (options.inlineOnly === true) throw new NeedsThreadError(this.source);
        return evaluateInThread(this.source, context, limits);
      }
      throw error;
    }
    if (jsonExceeds(result, limits.maxResultBytes))
      throw new ExpressionLimitError('result', this.source, limits);
    return result;
  }
}
