/**
 * The turns of a dynamic pattern step (hierarchical, round_robin, selector, mesh, handoff) as
 * sub-nodes of its one node: every plan, subtask, turn and selector pick is a child task of the
 * step, read from the step's conversation (`toolCalls`). The plan grows at run time, so the graph
 * does too. Pure functions: the graph draws them, tests can read them.
 */

/** What the graph needs of a child task (the conversation route's `toolCalls[]`). */
export interface ChildTaskLike {
  readonly taskId: string;
  /** The orchestrator's key of the turn: plan-N, rR-sI, turn-N, round-R-aI, select-N. */
  readonly callId: string | null;
  /** name@version, or `capability:<name>` while unrouted. */
  readonly agent: string | null;
  readonly status: string;
}

export interface SubNode {
  readonly id: string;
  readonly label: string;
  readonly status: string;
}

/** plan-2 → "plan 2", r1-s3 → "round 1 · subtask 3", turn-4 → "turn 4", … (else as is). */
export function turnLabel(key: string | null): string {
  if (key === null) return '';
  let m = /^plan-(\d+)$/.exec(key);
  if (m) return `plan ${m[1]}`;
  m = /^r(\d+)-s(\d+)$/.exec(key);
  if (m) return `round ${m[1]} · subtask ${m[2]}`;
  m = /^round-(\d+)-a\d+$/.exec(key);
  if (m) return `round ${m[1]}`;
  m = /^turn-(\d+)$/.exec(key);
  if (m) return `turn ${m[1]}`;
  m = /^select-(\d+)$/.exec(key);
  if (m) return `pick ${Number(m[1]) + 1}`;
  return key;
}

/** The child tasks as sub-nodes, in the order they were started. */
export function subNodesOf(children: readonly ChildTaskLike[]): SubNode[] {
  return children.map((c) => {
    const agent = (c.agent ?? '?').replace(/@.*$/, '');
    const turn = turnLabel(c.callId);
    return {
      id: c.taskId,
      label: turn === '' ? agent : `${agent} · ${turn}`,
      status: c.status.toLowerCase(),
    };
  });
}

/** Sub-nodes sit under their step in rows of this many. */
export const SUB_PER_ROW = 2;
export const SUB_HEIGHT = 30;
export const SUB_GAP = 6;
