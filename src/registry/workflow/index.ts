/**
 * Workflow definitions: validation and normalisation to the one DAG model the engine runs
 * (pure code; agents are looked up through an AgentResolver). See validate.ts for every error
 * message and field, and expand.ts for how patterns and consensus become steps.
 */
export { validateWorkflow } from './validate.js';
export {
  compileExpression,
  parseExpression,
  compileTemplate,
  isTemplate,
  templateExpressions,
  resolveInput,
  stepReferences,
  type CompiledTemplate,
  type Expression,
} from './expressions.js';
export { parseAgentRef, refText, DEFAULT_RETRY, STEP_ID } from './refs.js';
export { canonicalTimeZone, cronProblem } from './trigger.js';
export { parseDuration, MAX_WAIT_TIMEOUT_MS, MAX_LOOKBACK_MS } from './duration.js';
export {
  tallyVotes,
  sameResult,
  majorityOf,
  readVerdict,
  type Tally,
  type Vote,
  type Verdict,
} from './consensus.js';
export { nextTick, nextTicks, ticksBetween } from './cron.js';
export {
  runInputSchema,
  firstStepAgents,
  type InputStep,
  type JsonSchema as InputJsonSchema,
} from './run-input.js';
export {
  ROUTING_STRATEGIES,
  ORCHESTRATION_PATTERNS,
  CONSENSUS_STRATEGIES,
  CONCURRENCY_STRATEGIES,
  BACKOFF_KINDS,
  MAX_STEPS,
  type RoutingStrategy,
  type OrchestrationPattern,
  type ConsensusStrategy,
  type Backoff,
  type RetryPolicy,
  type AgentRef,
  type TriggerSpec,
  type ConcurrencySpec,
  type ConcurrencyStrategy,
  type FiringFlowSpec,
  type StepRole,
  type ConsensusSpec,
  type ConsensusTrust,
  DEFAULT_CONSENSUS_TRUST,
  type NormalizedStep,
  type NormalizedHandler,
  type NormalizedWorkflow,
  type Budget,
  isBudget,
} from './types.js';
