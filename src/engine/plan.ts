import type { NormalizedStep, NormalizedWorkflow } from '../registry/index.js';

/** Where a step of a run stands. `items` counts a for_each step's tasks. */
export interface StepState {
  status: 'pending' | 'running' | 'completed' | 'failed' | 'skipped';
  output?: unknown;
  error?: string;
  items?: { total: number; done: number };
  /** The agent version the step's range resolved to when the run started: a run is pinned. */
  agent_version?: string;
  started_at?: string;
  completed_at?: string;
  /** A fork's step that did not run: its output is the one recorded in this run (docs/replay.md). */
  reused_from?: string;
}

export type RunSteps = Record<string, StepState>;

const TERMINAL = new Set<StepState['status']>(['completed', 'skipped', 'failed']);

export function isTerminal(state: StepState | undefined): boolean {
  return state !== undefined && TERMINAL.has(state.status);
}

/**
 * The steps whose turn has come: pending, with every need completed or skipped. A step whose
 * needs were all skipped is skipped too (it depends only on work that did not happen); one
 * with at least one completed need runs, seeing `null` for the skipped ones' outputs.
 */
export function readySteps(
  workflow: NormalizedWorkflow,
  steps: RunSteps,
): Array<{ step: NormalizedStep; skip: boolean }> {
  const ready: Array<{ step: NormalizedStep; skip: boolean }> = [];
  for (const step of workflow.steps) {
    if (steps[step.id]?.status !== 'pending') continue;
    const needs = step.needs.map((id) => steps[id]);
    if (!needs.every((s) => s !== undefined && (s.status === 'completed' || s.status === 'skipped')))
      continue;
    const skip = needs.length > 0 && needs.every((s) => s!.status === 'skipped');
    ready.push({ step, skip });
  }
  return ready;
}

/** The run is over when no step is pending or running. */
export function allSettled(steps: RunSteps): boolean {
  return Object.values(steps).every((s) => isTerminal(s));
}

/** The expression context of a run: what `{{ }}`, `when` and `for_each` see. */
export function expressionContext(
  run: {
    id: string;
    workflow: string;
    attempt: number;
    trigger: unknown;
    variables: Record<string, unknown>;
  },
  steps: RunSteps,
  extra: { item?: unknown; index?: number } = {},
): Record<string, unknown> {
  const outputs = Object.fromEntries(
    Object.entries(steps).map(([id, s]) => [
      id,
      { output: s.status === 'completed' ? s.output : null, status: s.status },
    ]),
  );
  return {
    trigger: run.trigger,
    variables: run.variables,
    steps: outputs,
    run: { id: run.id, workflow: run.workflow, attempt: run.attempt },
    ...('item' in extra ? { item: extra.item, index: extra.index } : {}),
  };
}
