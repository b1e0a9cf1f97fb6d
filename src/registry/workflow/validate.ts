import semver from 'semver';
import type { FieldIssue } from '../../errors/index.js';
import type { AgentResolver, ValidationResult } from '../types.js';
import { agentIssues } from './check-agents.js';
import { expressionIssues } from './check-expressions.js';
import { expandStep } from './expand.js';
import { graphIssues, topoSort } from './graph.js';
import { readNodesForm } from './nodes.js';
import { inDocumentOrder } from './order.js';
import { isObject, obj, str } from './refs.js';
import { shapeIssues } from './schema.js';
import { readHandlers, readStepsForm } from './source.js';
import { readTrigger } from './trigger.js';
import { readConcurrency } from './flow-control.js';
import {
  isAlertsOptIn,
  isBudget,
  MAX_STEPS,
  type NormalizedHandler,
  type NormalizedWorkflow,
  type OrchestrationPattern,
} from './types.js';

/**
 * Validates a workflow definition (steps form, top-level pattern, or seed 004 nodes/edges) and
 * normalises it to the DAG the engine runs. Every issue is collected, not only the first: each
 * pass below reads past the problems earlier passes reported, so one submission shows them all.
 * Each issue's `field` names the place in the document as written (`steps[2].needs[0]`,
 * `nodes[1].type`, `edges[0][1]`, `trigger.cron`); `(document)` is the document itself. Issues
 * come in document order (see order.ts).
 *
 * Messages (⟨…⟩ = filled in; `noun` is "step", or "node" in the nodes form):
 * - shape (Ajv): `is required`, `unknown property "x"`, `must be string` (and other types),
 *   `must be one of: a, b`, `must be >= 1` / `<= 10`, `must NOT have fewer than 1 items`,
 *   `repeats item ⟨j⟩` (needs, tags), `must be an object (a workflow definition)`
 * - `version`: `must be a semantic version like 1.0.0 (got "⟨v⟩")`
 * - `steps[i]`: `must have exactly one of agent, capability, pattern, wait_for or type: consensus (has ⟨…⟩)`
 * - `steps[i].wait_for.timeout` / `.lookback`: `must be a duration such as "30s", …`, `must be at
 *   most ⟨max⟩, …`; `steps[i].wait_for.match`: `is a bare JSONata expression over the event, …`
 *   (and the expression rules below); `steps[i].input`: `not allowed with wait_for (…)`
 * - `steps[i].id` / `nodes[i].id`: `invalid ⟨noun⟩ id "⟨id⟩": use lowercase letters, …`,
 *   `invalid ⟨noun⟩ id "⟨id⟩": "__" is reserved …`, `duplicate ⟨noun⟩ id "⟨id⟩" (first at ⟨field⟩)`
 * - `steps[i].needs[j]` / `edges[j][0]`: `unknown ⟨noun⟩ "⟨id⟩"`; `edges[j][1]`: `unknown node "⟨id⟩"`
 * - the need that closes a cycle, on the cycle's first-written step: `cycle a → b → c → a`
 *   (run order: b needs a, c needs b, a needs c)
 * - `….agent`, `….agents[k]`, `….judge`, `nodes[i].type`, `on_error.agent`:
 *   `invalid agent reference "⟨text⟩" (expected name@range, …)`, `invalid version range "⟨r⟩" in "⟨text⟩"`,
 *   `unknown agent "⟨name⟩"`, `no version of "⟨name⟩" satisfies "⟨range⟩"`
 * - `….capability` / `nodes[i].type`: `no agent offers "⟨capability⟩"`
 * - kind rules: `routing`: `only allowed with capability`; `agents`: `only allowed on pattern and
 *   consensus steps`, `is required for a ⟨kind⟩ step`, `a consensus needs at least 2 agents`,
 *   `hierarchical needs a coordinator and at least one worker (2 agents or more)`; `rounds`:
 *   `only allowed with pattern round_robin, mesh or selector`; `strategy`/`judge`/`aggregator`/`quorum`/
 *   `on_no_quorum`/`layers`/`trust`: `only allowed on consensus steps (type: consensus)`;
 *   `strategy`: `is required for a consensus step`; `judge`: `is required for strategy ⟨s⟩`,
 *   `not allowed with strategy voting|weighted (…)`; `quorum`/`on_no_quorum`: `only allowed with
 *   strategy voting or weighted`; `quorum`: `must be at most the number of agents (⟨n⟩)`, `must
 *   be a whole number of members with strategy voting`, `must be a fraction of the total trust
 *   weight, above 0 and at most 1, with strategy weighted`; `layers`: `only allowed with strategy
 *   mixture_of_agents`; `aggregator`: `use either judge or aggregator (…)`; `trust`: `not allowed
 *   with strategy mixture_of_agents (…)`;
 *   `for_each`: `not allowed on pattern and consensus steps (…)`
 * - top level: `pattern`: `use either steps or a top-level pattern + agents, not both`;
 *   `agents`/`input`/`rounds`: `only allowed with a top-level pattern`; `steps`: `is required (or
 *   a top-level pattern + agents)`, `expands to ⟨n⟩ steps; at most ⟨MAX_STEPS⟩ are allowed`
 * - `….retry.max_delay_ms`: `must be at least initial_delay_ms (⟨ms⟩)`
 * - expressions, at the exact string (`steps[i].input.a.b[0]`, `….when`, `….for_each`):
 *   `expression does not parse: ⟨jsonata message⟩ (at character ⟨n⟩)`, `has "{{" without a
 *   closing "}}"`, `has an empty "{{ }}"`, `is a bare JSONata expression: write it without {{ }}`,
 *   `refers to unknown ⟨noun⟩ "⟨id⟩"`, `refers to step "⟨id⟩", which is not in needs` (nodes:
 *   `…, which is not upstream of it (no path of edges)`)
 * - `….for_each`: `is not a list (it is a string literal)`, `is not a list (variables.items is a string)`
 * - input vs. the agent's input_schema (literal parts only), suffixed `(input_schema of ⟨name@version⟩)`:
 *   `….input`: `missing required property "⟨p⟩"`; `….input.⟨p⟩`: `must be string` (any Ajv
 *   message), `is not a property the agent accepts`
 * - `trigger.⟨key⟩`: `is required for ⟨type⟩ triggers`, `not allowed on ⟨type⟩ triggers`;
 *   `trigger.cron`: `invalid cron expression "⟨c⟩": ⟨why⟩`, `cron expression "⟨c⟩" never fires`;
 *   `trigger.timezone`: `unknown time zone "⟨z⟩"`; `trigger.path`: `invalid webhook path "⟨p⟩" (…)`
 * - flow control (flow-control.ts): `concurrency.key`, `trigger.debounce.key`,
 *   `trigger.throttle.key`: `expression does not parse: …`; `trigger.debounce.period` /
 *   `trigger.throttle.period`: `must be a duration such as "30s", …`; `trigger.throttle`: `use
 *   either debounce or throttle, not both`; `concurrency.limit`: `must be >= 1` (Ajv);
 *   `concurrency.strategy`: `must be one of: queue, cancel_in_progress, cancel_newest` (Ajv)
 */
export async function validateWorkflow(
  doc: unknown,
  resolver: AgentResolver,
): Promise<ValidationResult<NormalizedWorkflow>> {
  if (!isObject(doc))
    return {
      ok: false,
      issues: [{ field: '(document)', message: 'must be an object (a workflow definition)' }],
    };
  const nodesForm = 'nodes' in doc;
  const noun = nodesForm ? 'node' : 'step';
  // Every step (node) written expands to one or more: past MAX_STEPS the definition is refused
  // at once. The passes below grow faster than the number of steps (a chain of 10,000 took
  // minutes, with the event loop blocked) and recurse along needs.
  const written = nodesForm ? doc.nodes : doc.steps;
  if (Array.isArray(written) && written.length > MAX_STEPS) {
    const field = nodesForm ? 'nodes' : 'steps';
    return {
      ok: false,
      issues: [{ field, message: `has ${written.length} ${noun}s; at most ${MAX_STEPS} are allowed` }],
    };
  }
  const issues: FieldIssue[] = shapeIssues(doc);

  const version = str(doc.version);
  if (version !== undefined && semver.valid(version) !== version) {
    issues.push({ field: 'version', message: `must be a semantic version like 1.0.0 (got "${version}")` });
  }
  const trigger = readTrigger(doc.trigger, issues);
  const concurrency = readConcurrency(doc.concurrency, issues);
  const steps = nodesForm ? readNodesForm(doc, issues) : readStepsForm(doc, issues);
  const onError = nodesForm ? undefined : readHandlers(doc.on_error, 'on_error', issues);
  const onSuccess = nodesForm ? undefined : readHandlers(doc.on_success, 'on_success', issues);
  const handlers = [...(onError ?? []), ...(onSuccess ?? [])];
  const variables = obj(doc.variables);

  // Loops, not push(...): a definition can have tens of thousands of issues, past the
  // number of arguments a call can take.
  for (const issue of graphIssues(steps, noun)) issues.push(issue);
  for (const issue of expressionIssues(steps, handlers, variables, noun)) issues.push(issue);
  for (const issue of await agentIssues(steps, handlers, resolver)) issues.push(issue);
  if (issues.length > 0) return { ok: false, issues: inDocumentOrder(doc, dedupe(issues)) };

  const expanded = steps.flatMap(expandStep);
  if (expanded.length > MAX_STEPS) {
    const field = nodesForm ? 'nodes' : 'steps';
    return {
      ok: false,
      issues: [{ field, message: `expands to ${expanded.length} steps; at most ${MAX_STEPS} are allowed` }],
    };
  }
  const handlersOf = (list: typeof onError): NormalizedHandler[] | undefined =>
    list?.map((h) => ({ agent: h.agent!.value, input: h.input }));
  const workflow: NormalizedWorkflow = {
    name: str(doc.name)!,
    version: version!,
    ...(typeof doc.description === 'string' ? { description: doc.description } : {}),
    trigger,
    variables,
    steps: topoSort(expanded),
    ...(onError ? { on_error: handlersOf(onError) } : {}),
    ...(onSuccess ? { on_success: handlersOf(onSuccess) } : {}),
    ...(typeof doc.timeout_seconds === 'number' ? { timeout_seconds: doc.timeout_seconds } : {}),
    ...(isBudget(doc.budget) ? { budget: doc.budget } : {}),
    ...(concurrency === undefined ? {} : { concurrency }),
    ...(isAlertsOptIn(doc.alerts) ? { alerts: { on_completion: doc.alerts.on_completion } } : {}),
    tags: Array.isArray(doc.tags) ? (doc.tags as string[]) : [],
    ...(!nodesForm && typeof doc.pattern === 'string'
      ? { pattern: doc.pattern as OrchestrationPattern }
      : {}),
  };
  // A copy, so the normalised workflow shares nothing with the caller's document.
  return { ok: true, value: structuredClone(workflow) };
}

function dedupe(issues: readonly FieldIssue[]): FieldIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.field}\u0000${i.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
