import type { Kysely } from 'kysely';
import semver from 'semver';
import type { FieldIssue } from '../errors/index.js';
import type { NormalizedStep, NormalizedWorkflow } from '../registry/index.js';
import type { SwarmDatabase } from '../storage/index.js';
import type { RunSteps, StepState } from './plan.js';

/** What `POST /runs/{id}/fork` asks for. */
export interface ForkRunOptions {
  /** The step to run again: it and every step that depends on it run; the rest are reused. */
  readonly fromStep: string;
  /** The workflow version to run: the original's (absent), another one, or `latest`. */
  readonly version?: string;
  /** The new run's input (and trigger data); absent: the original's. */
  readonly input?: unknown;
}

/** How a fork is linked to the run it came from (workflow_runs, migration 0025). */
export interface ForkLink {
  readonly parentRunId: string;
  readonly fromStep: string;
  /** The root of the fork chain: the basis of the replay's idempotency keys. */
  readonly originalRunId: string;
}

/** The run a fork starts from, as recorded. */
export interface ForkSource {
  readonly id: string;
  readonly version: string;
  readonly workflow: NormalizedWorkflow;
  readonly steps: RunSteps;
}

/** A fork worked out: its steps' first states, and which were reused and which run again. */
export interface ForkPlan {
  /** Reused steps completed (or skipped) as recorded, with `reused_from`; the others pending. */
  readonly steps: RunSteps;
  readonly reused: readonly string[];
  readonly rerun: readonly string[];
  /** Why the fork cannot reuse what it must, one issue per step (`steps.<id>`); empty if it can. */
  readonly differences: readonly FieldIssue[];
}

const REUSABLE = new Set<StepState['status']>(['completed', 'skipped']);

/** `from` and every step that depends on it, directly or not. */
export function dependentsOf(workflow: NormalizedWorkflow, from: string): Set<string> {
  const found = new Set<string>([from]);
  for (let grew = true; grew;) {
    grew = false;
    for (const step of workflow.steps)
      if (!found.has(step.id) && step.needs.some((n) => found.has(n))) {
        found.add(step.id);
        grew = true;
      }
  }
  return found;
}

/** Every step `of` depends on, directly or not. */
export function ancestorsOf(workflow: NormalizedWorkflow, of: string): Set<string> {
  const byId = new Map(workflow.steps.map((s) => [s.id, s]));
  const found = new Set<string>();
  const todo = [...(byId.get(of)?.needs ?? [])];
  for (let id = todo.pop(); id !== undefined; id = todo.pop()) {
    if (found.has(id)) continue;
    found.add(id);
    todo.push(...(byId.get(id)?.needs ?? []));
  }
  return found;
}

const agentOf = (step: NormalizedStep): string =>
  step.agent !== undefined
    ? `agent ${step.agent.name}@${step.agent.range}`
    : `capability ${step.capability?.name ?? '?'}`;

/** Why the original's record of `before` cannot stand for `after` (the target's step), or null. */
function agentDifference(before: NormalizedStep, state: StepState, after: NormalizedStep): string | null {
  if (after.agent !== undefined && before.agent !== undefined) {
    if (after.agent.name !== before.agent.name)
      return `runs agent ${after.agent.name} here, ${before.agent.name} in the original run`;
    const ran = state.agent_version;
    if (ran !== undefined && !semver.satisfies(ran, after.agent.range, { includePrerelease: true }))
      return `the original run used ${before.agent.name}@${ran}, which ${after.agent.range} here does not admit`;
    return null;
  }
  if (after.capability !== undefined && before.capability !== undefined)
    return after.capability.name === before.capability.name
      ? null
      : `needs capability ${after.capability.name} here, ${before.capability.name} in the original run`;
  return `runs ${agentOf(after)} here, ${agentOf(before)} in the original run`;
}

/**
 * Works out a fork of `source` from step `from` on `target` (the same version or another): the
 * target's steps that do not depend on `from` reuse the source's records, `from` and its
 * dependents run again. A reused step must exist in the source with the same agent (name, and
 * the version it ran admitted by the target's range) and have completed (or been skipped) there.
 *
 * A step that neither depends on `from` nor is needed by it (a parallel branch) and did not
 * complete in the source (still running, failed, never reached, or new in the target) runs
 * again, with what depends on it; one `from` needs must have completed, or there is nothing to
 * run `from` on. The source's
 * steps that would have been reused must still exist in the target. Anything else is listed in
 * `differences`, and the fork is refused.
 */
export function planFork(source: ForkSource, target: NormalizedWorkflow, from: string): ForkPlan {
  const differences: FieldIssue[] = [];
  const before = new Map(source.workflow.steps.map((s) => [s.id, s]));
  const targetIds = new Set(target.steps.map((s) => s.id));
  const upstream = ancestorsOf(target, from);
  const rerun = dependentsOf(target, from);
  // Parallel branches the source did not finish run again, and so does whatever needs them.
  for (let grew = true; grew;) {
    grew = false;
    for (const step of target.steps) {
      if (rerun.has(step.id) || upstream.has(step.id)) continue;
      const recorded = source.steps[step.id];
      const unfinished = recorded === undefined || !REUSABLE.has(recorded.status);
      if (unfinished || step.needs.some((n) => rerun.has(n))) {
        rerun.add(step.id);
        grew = true;
      }
    }
  }
  // The source's finished steps that did not depend on `from` there: the target must keep them.
  const sourceDependents = before.has(from) ? dependentsOf(source.workflow, from) : new Set<string>();
  for (const step of source.workflow.steps) {
    const recorded = source.steps[step.id];
    if (sourceDependents.has(step.id) || recorded === undefined || !REUSABLE.has(recorded.status)) continue;
    if (!targetIds.has(step.id))
      differences.push({
        field: `steps.${step.id}`,
        message: `is missing from the target version; the original run ${recorded.status === 'skipped' ? 'skipped' : 'completed'} it and does not need ${from} for it`,
      });
  }
  const steps: RunSteps = {};
  const reused: string[] = [];
  for (const step of target.steps) {
    if (rerun.has(step.id)) {
      steps[step.id] = { status: 'pending' };
      continue;
    }
    const original = before.get(step.id);
    const recorded = source.steps[step.id];
    const field = `steps.${step.id}`;
    if (original === undefined) {
      differences.push({
        field,
        message: `is not in ${source.workflow.name}@${source.version} (the original run's version): there is no recorded output to reuse`,
      });
      continue;
    }
    const changed = agentDifference(original, recorded ?? { status: 'pending' }, step);
    if (changed !== null) differences.push({ field, message: changed });
    if (recorded === undefined || !REUSABLE.has(recorded.status)) {
      differences.push({
        field,
        message: `is ${recorded?.status ?? 'pending'} in the original run, and ${from} needs its output: fork from ${step.id} instead`,
      });
      continue;
    }
    steps[step.id] = { ...structuredClone(recorded), reused_from: recorded.reused_from ?? source.id };
    reused.push(step.id);
  }
  return {
    steps,
    reused,
    rerun: target.steps.map((s) => s.id).filter((id) => rerun.has(id)),
    differences,
  };
}

/** A run forked from another, as the parent's page lists it. */
export interface ForkView {
  readonly id: string;
  readonly status: string;
  readonly createdAt: string;
  readonly fromStep: string | null;
  readonly version: string | null;
}

/** The most forks a run's view lists (the newest are left out past it). */
const FORKS_SHOWN = 100;

/** The runs forked from `runId` that `ownerId` owns, oldest first (idx_runs_parent). */
export async function readForks(
  db: Kysely<SwarmDatabase>,
  ownerId: string,
  runId: string,
): Promise<ForkView[]> {
  const rows = await db
    .selectFrom('workflow_runs')
    .select(['id', 'status', 'created_at', 'forked_from_step', 'workflow_version'])
    .where('parent_run_id', '=', runId)
    .where('owner_id', '=', ownerId)
    .orderBy('created_at')
    .orderBy('id')
    .limit(FORKS_SHOWN)
    .execute();
  return rows.map((r) => ({
    id: r.id,
    status: r.status,
    createdAt: r.created_at,
    fromStep: r.forked_from_step,
    version: r.workflow_version,
  }));
}
