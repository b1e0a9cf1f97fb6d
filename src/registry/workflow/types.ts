import { ROUTING_STRATEGIES } from '../../storage/index.js';
/**
 * The one model every workflow definition becomes. Whatever the user wrote (steps, a top-level
 * orchestration pattern, consensus steps, or seed 004's nodes and edges), the engine only ever
 * sees a NormalizedWorkflow: a flat, topologically sorted DAG of NormalizedSteps with every
 * default filled in, so it never has to know about patterns or source forms.
 */

// The tasks table's CHECK set: one list, owned by the schema.
export { ROUTING_STRATEGIES };
export type RoutingStrategy = (typeof ROUTING_STRATEGIES)[number];

export const ORCHESTRATION_PATTERNS = [
  'sequential',
  'concurrent',
  'hierarchical',
  'round_robin',
  'mesh',
  'selector',
  'handoff',
] as const;
export type OrchestrationPattern = (typeof ORCHESTRATION_PATTERNS)[number];

/**
 * Patterns decided at run time: each becomes ONE step run by builtin/orchestrate, which starts
 * the agents' turns as child tasks as it goes (src/runtimes/orchestration). The others expand
 * to a fixed DAG when the workflow is applied.
 */
export const DYNAMIC_PATTERNS = ['hierarchical', 'round_robin', 'selector', 'mesh', 'handoff'] as const;
export type DynamicPattern = (typeof DYNAMIC_PATTERNS)[number];
export const isDynamicPattern = (p: string | undefined): p is DynamicPattern =>
  (DYNAMIC_PATTERNS as readonly (string | undefined)[]).includes(p);

export const CONSENSUS_STRATEGIES = ['voting', 'weighted', 'judge_based', 'mixture_of_agents'] as const;
export type ConsensusStrategy = (typeof CONSENSUS_STRATEGIES)[number];

export const BACKOFF_KINDS = ['fixed', 'linear', 'exponential'] as const;
export type Backoff = (typeof BACKOFF_KINDS)[number];

/** A step's retry policy with every field filled (defaults: 1 attempt, exponential, 1 s … 60 s, jitter). */
export interface RetryPolicy {
  readonly max_attempts: number;
  readonly backoff: Backoff;
  readonly initial_delay_ms: number;
  readonly max_delay_ms: number;
  readonly jitter: boolean;
}

/** `name@range` split; a reference without `@` means any version (`*`). */
export interface AgentRef {
  readonly name: string;
  readonly range: string;
}

/** How runs over a workflow's `concurrency.limit` are handled (Hatchet's strategies). */
export const CONCURRENCY_STRATEGIES = ['queue', 'cancel_in_progress', 'cancel_newest'] as const;
export type ConcurrencyStrategy = (typeof CONCURRENCY_STRATEGIES)[number];

/** A workflow's `concurrency`: at most `limit` running runs per value of `key` (absent: one key). */
export interface ConcurrencySpec {
  /** Bare JSONata over `{input, trigger, variables}`. */
  readonly key?: string;
  readonly limit: number;
  readonly strategy: ConcurrencyStrategy;
}

/** A trigger's `debounce` / `throttle`: `key` is bare JSONata over the trigger data. */
export interface FiringFlowSpec {
  readonly key?: string;
  /** As written (`5s`), and in milliseconds. */
  readonly period: string;
  readonly period_ms: number;
}

/** What an event or webhook trigger may add: at most one of them. */
export interface FiringFlow {
  readonly debounce?: FiringFlowSpec;
  readonly throttle?: FiringFlowSpec & { readonly limit: number };
}

export type TriggerSpec =
  | { readonly type: 'manual' }
  | ({ readonly type: 'webhook'; readonly path?: string } & FiringFlow)
  | {
      readonly type: 'schedule';
      readonly cron: string;
      /** Canonical IANA name (default UTC). */
      readonly timezone: string;
      /** What to do with ticks missed while no scheduler ran (default skip). */
      readonly misfire: 'skip' | 'catch_up';
      /** With `catch_up`: how many of the newest missed ticks fire (default 10). */
      readonly catch_up_limit: number;
    }
  | ({
      readonly type: 'event';
      readonly source: string;
      readonly event_type: string;
      /**
       * Whether events its own runs caused (their `run.*`, what their steps emit) may start it
       * again; the depth limit still ends such a loop (default false).
       */
      readonly allow_self: boolean;
    } & FiringFlow);

/** Which part a generated step plays in its expansion (for the dashboard and the run records). */
export type StepRole =
  | 'member'
  | 'join'
  | 'plan'
  | 'worker'
  | 'synthesis'
  | 'turn'
  | 'aggregate'
  | 'layer'
  | 'node'
  | 'orchestrator';

/** How much a consensus member's trust moves with agreeing or dissenting (`trust: false`: none). */
export interface ConsensusTrust {
  readonly agree: number;
  readonly dissent: number;
}
export const DEFAULT_CONSENSUS_TRUST: ConsensusTrust = { agree: 0.01, dissent: -0.02 };

/** What the engine needs to decide and record a consensus (see src/engine/consensus.ts). */
export interface ConsensusSpec {
  readonly strategy: ConsensusStrategy;
  /** The member (proposer) step ids, in the order of the step's agents. */
  readonly members: readonly string[];
  /**
   * voting: how many members must agree (default: a strict majority); weighted: the fraction
   * of the total trust weight that must agree (default: more than half).
   */
  readonly quorum?: number;
  /** voting / weighted: what a missed quorum does (default `fail`). */
  readonly on_no_quorum?: 'fail' | 'continue';
  /** mixture_of_agents: the step ids of each aggregation layer, in order. */
  readonly layers?: readonly (readonly string[])[];
  /** voting, weighted, judge_based: trust moves (default DEFAULT_CONSENSUS_TRUST); false: none. */
  readonly trust?: ConsensusTrust | false;
}

/**
 * One unit the engine schedules: exactly one of `agent` or `capability`. `input` is a mapping
 * whose string values may hold `{{ expr }}` templates; `when`/`for_each` are bare JSONata.
 */
/** What a flow limit of a step counts over (docs/flow-control.md). */
export const STEP_FLOW_SCOPES = ['step', 'workflow', 'agent', 'owner'] as const;
export type StepFlowScope = (typeof STEP_FLOW_SCOPES)[number];

/** A step's `concurrency` or `rate_limit`: `key` is a bare JSONata expression, evaluated per task. */
export interface StepFlowLimit {
  readonly kind: 'concurrency' | 'rate';
  readonly key?: string;
  readonly limit: number;
  /** Rate limits: the window, in milliseconds. */
  readonly period_ms?: number;
  readonly scope: StepFlowScope;
}

export interface NormalizedStep {
  readonly id: string;
  /** Display name (seed 004 node `name`, or a step's `name`). */
  readonly name?: string;
  readonly agent?: AgentRef;
  readonly capability?: { readonly name: string; readonly routing: RoutingStrategy };
  readonly input: Readonly<Record<string, unknown>>;
  /** Direct dependencies, in the order written, without duplicates. */
  readonly needs: readonly string[];
  readonly when?: string;
  readonly for_each?: string;
  readonly retry: RetryPolicy;
  readonly timeout_seconds?: number;
  /** 1–10, higher is claimed first (default 5). */
  readonly priority: number;
  /** Most its model calls may spend (an agent loop's, every item's together). */
  readonly budget?: Budget;
  /** Flow control: its concurrency and rate limits (in the task's order of keys). */
  readonly flow?: readonly StepFlowLimit[];
  /** Set on the step that aggregates a consensus: its strategy, member step ids and rules. */
  readonly consensus?: ConsensusSpec;
  /** Set on steps generated from a pattern, a consensus step or a seed 004 node. */
  readonly origin?: {
    readonly kind: 'pattern' | 'consensus' | 'node';
    /** The id of the step (or node) as written in the definition. */
    readonly step: string;
    readonly pattern?: OrchestrationPattern;
    readonly role: StepRole;
  };
}

/** An on_error / on_success handler: an agent run with an input mapping once the run ends. */
export interface NormalizedHandler {
  readonly agent: AgentRef;
  readonly input: Readonly<Record<string, unknown>>;
}

export interface NormalizedWorkflow {
  readonly name: string;
  readonly version: string;
  readonly description?: string;
  readonly trigger: TriggerSpec;
  readonly variables: Readonly<Record<string, unknown>>;
  /** Topologically sorted; among steps that are ready together, in the order written. */
  readonly steps: readonly NormalizedStep[];
  readonly on_error?: readonly NormalizedHandler[];
  readonly on_success?: readonly NormalizedHandler[];
  /** The run's deadline, counted from its start (and from each retry). */
  readonly timeout_seconds?: number;
  /** At most `limit` running runs per key; what happens to the rest (docs/run-concurrency.md). */
  readonly concurrency?: ConcurrencySpec;
  /** Most the whole run's model calls may spend. */
  readonly budget?: Budget;
  /** Alerts the workflow opts in to: a `task_completion` alert of this severity per completed run. */
  readonly alerts?: { readonly on_completion: 'info' | 'warning' | 'critical' };
  readonly tags: readonly string[];
  /** Set when the whole workflow was written as one top-level pattern. */
  readonly pattern?: OrchestrationPattern;
}

/** A spending cap on model calls: tokens, US dollars, or both (the schema wants one at least). */
export interface Budget {
  readonly tokens?: number;
  readonly cost_usd?: number;
}

/** A workflow's `alerts` (already checked by the schema; this narrows the type). */
export function isAlertsOptIn(value: unknown): value is NonNullable<NormalizedWorkflow['alerts']> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const level = (value as Record<string, unknown>).on_completion;
  return level === 'info' || level === 'warning' || level === 'critical';
}

export function isBudget(value: unknown): value is Budget {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const b = value as Record<string, unknown>;
  return (
    (b.tokens === undefined || typeof b.tokens === 'number') &&
    (b.cost_usd === undefined || typeof b.cost_usd === 'number') &&
    (b.tokens !== undefined || b.cost_usd !== undefined)
  );
}

/** Hard cap on the expanded DAG, so `rounds` × `agents` cannot blow up a run. */
export const MAX_STEPS = 1000;
