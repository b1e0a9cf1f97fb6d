/**
 * Bounded JSONata: every expression Swarm evaluates (input mappings, `when`, `for_each`,
 * handler inputs) goes through Expression, under the limits configured at process start.
 */
export { Expression, type EvaluateOptions, type ExprNode } from './expression.js';
export { ExpressionLimitError, NeedsThreadError, type ExpressionLimit } from './errors.js';
export {
  DEFAULT_EXPRESSION_LIMITS,
  configureExpressionLimits,
  expressionLimits,
  type ExpressionLimits,
} from './limits.js';
export { closeExpressionThreads, expressionThreadStats } from './pool.js';
