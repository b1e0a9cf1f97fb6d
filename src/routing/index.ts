/**
 * Capability routing and trust: which of an owner's agents runs a task that names a capability
 * instead of an agent (round_robin, least_loaded, trust_weighted, fastest, random), and how each
 * finished attempt moves the agent's trust score and statistics, with an audit trail in
 * `trust_records`. See docs/routing.md.
 */
export { pickCandidate, type Candidate, type RandomSource, type RoutingStrategy } from './strategies.js';
export {
  chooseAgent,
  type RouteRequest,
  type RouteResult,
  type RoutedAgent,
  type Exclusions,
} from './choose.js';
export {
  recordOutcomes,
  recordOutcome,
  withAgentOutcomes,
  adjustTrust,
  type AttemptOutcome,
  type TrustChange,
} from './outcomes.js';
export {
  DEFAULT_TRUST_POLICY,
  DEFAULT_TRUST_THRESHOLD,
  DEFAULT_MIN_HEALTH,
  HEALTH_WEIGHT,
  nextTrust,
  nextHealth,
  type TrustPolicy,
  type AttemptResult,
} from './policy.js';
export { recordHeartbeat, markSilentAgents, type Heartbeat } from './heartbeats.js';
export {
  agentStats,
  trustHistory,
  MAX_TRUST_POINTS,
  type AgentVersionStats,
  type TrustPoint,
} from './agent-stats.js';
