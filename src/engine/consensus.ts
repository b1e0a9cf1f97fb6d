import type { Kysely } from 'kysely';
import {
  DEFAULT_CONSENSUS_TRUST,
  majorityOf,
  readVerdict,
  sameResult,
  tallyVotes,
  type ConsensusSpec,
} from '../registry/index.js';
import { newId, toDbJson, toDbTimestamp, type DialectAdapter, type SwarmDatabase } from '../storage/index.js';
import type { RunOutcome } from './advance.js';
import type { StoredRun } from './run-state.js';

/**
 * Consensus, decided and recorded. The aggregate step of a consensus (expand.ts) runs a task
 * like any step (builtin/consensus counting votes, or the judge / aggregator agent); when that
 * task completes, the decision is made here, on the members' outputs as the run holds them:
 *
 * - voting: the most common result wins if at least `quorum` members gave it (default a strict
 *   majority); weighted: each member's vote weighs its agent's trust score as it is now, and the
 *   winner needs `quorum` of the total weight (default more than half). A missed quorum fails the
 *   step (NO_QUORUM, with the tally) unless `on_no_quorum: continue`, which completes it with
 *   `reached: false` and the plurality.
 * - judge_based: the judge's output must be `{choice, confidence, reasoning}` (checked, or the
 *   step fails naming the field); the step's output is the chosen candidate and the verdict.
 * - mixture_of_agents: the aggregator's output is the answer, its `confidence` if it gives one.
 *
 * `decideConsensus` runs where the completion is applied (before the transaction for a prepared
 * batch, or in it); `writeConsensusRecords` writes one `consensus_results` row per decision and
 * moves the members' trust, in the transaction that completes (or fails) the step.
 */

/** A member step's task as the decision needs it: which agent ran it and its trust now. */
export interface MemberTask {
  readonly taskId: string;
  readonly agentId: string | null;
  /** `name@version`, or null if the task names no agent. */
  readonly agent: string | null;
  readonly trust: number | null;
}

export type MemberLookup = (runId: string, stepIds: readonly string[]) => Promise<Map<string, MemberTask>>;

/** Looks up a run's completed member tasks (the current attempt's: earlier ones are renamed). */
export function memberLookup(db: Kysely<SwarmDatabase>): MemberLookup {
  return async (runId, stepIds) => {
    const rows = await db
      .selectFrom('tasks as t')
      // The version the run pinned, of the run owner's agent of that name.
      .leftJoin('agents as a', (join) =>
        join
          .onRef('a.owner_id', '=', 't.owner_id')
          .onRef('a.name', '=', 't.agent_name')
          .onRef('a.version', '=', 't.agent_version'),
      )
      .select(['t.id', 't.step_id', 'a.id as agent_id', 't.agent_name', 't.agent_version', 'a.trust_score'])
      .where('t.run_id', '=', runId)
      .where('t.step_id', 'in', [...stepIds])
      .where('t.status', '=', 'COMPLETED')
      .execute();
    const found = new Map<string, MemberTask>();
    for (const row of rows) {
      found.set(row.step_id!, {
        taskId: row.id,
        agentId: row.agent_id,
        agent: row.agent_name === null ? null : `${row.agent_name}@${row.agent_version ?? '*'}`,
        trust: row.trust_score === null ? null : Number(row.trust_score),
      });
    }
    return found;
  };
}

/** One member's trust move, decided with the outcome. */
export interface TrustMove {
  readonly agentId: string;
  readonly memberStep: string;
  readonly taskId: string;
  readonly agreed: boolean;
  readonly delta: number;
}

/** One decision, to be written as a consensus_results row (and its trust moves). */
export interface ConsensusRecord {
  readonly ownerId: string;
  readonly runId: string;
  readonly stepId: string;
  readonly taskId: string | null;
  readonly strategy: ConsensusSpec['strategy'];
  /** Keyed by member (and layer) step id: the agent that ran it and its output. */
  readonly agentResults: Record<string, { agent: string | null; output: unknown }>;
  /** null when nothing was decided (a missed quorum that fails the step). */
  readonly finalResult: unknown;
  readonly confidence: number | null;
  readonly details: Record<string, unknown>;
  readonly trust: readonly TrustMove[];
}

export interface ConsensusOutcome {
  readonly records: ConsensusRecord[];
  /** Set when a decision failed its step: the run fails with it. */
  readonly failure?: Extract<RunOutcome, { status: 'failed' }>;
}

/** A decision on one step: its output, or the error that fails it; and what to record. */
interface Decision {
  readonly output?: unknown;
  readonly error?: string;
  readonly record?: Omit<
    ConsensusRecord,
    'ownerId' | 'runId' | 'stepId' | 'taskId' | 'strategy' | 'agentResults'
  >;
}

/**
 * Decides the consensus steps of `run` that the batch just completed (`before` holds their
 * earlier statuses; `taskOf` the batch's task per step), mutating their states: the decided
 * output, or `failed` with the reason. Returns the records to write and the run's failure.
 */
/**
 * The members' tasks, each looked up in the run that ran it: a fork's reused member ran in the
 * run its output was reused from (StepState.reused_from), and its agent and trust are there.
 */
async function memberTasks(
  run: StoredRun,
  ids: readonly string[],
  lookup: MemberLookup,
): Promise<Map<string, MemberTask>> {
  const byRun = new Map<string, string[]>();
  for (const id of ids) {
    const ranIn = run.steps[id]?.reused_from ?? run.id;
    byRun.set(ranIn, [...(byRun.get(ranIn) ?? []), id]);
  }
  const found = new Map<string, MemberTask>();
  for (const [runId, stepIds] of byRun)
    for (const [id, task] of await lookup(runId, stepIds)) found.set(id, task);
  return found;
}

export async function decideConsensus(
  run: StoredRun,
  before: Readonly<Record<string, string>>,
  taskOf: ReadonlyMap<string, string>,
  lookup: MemberLookup,
): Promise<ConsensusOutcome> {
  const records: ConsensusRecord[] = [];
  let failure: ConsensusOutcome['failure'];
  for (const step of run.workflow.steps) {
    const spec = step.consensus;
    const state = run.steps[step.id];
    if (spec === undefined || state === undefined) continue;
    if (before[step.id] !== 'running' || state.status !== 'completed') continue;
    const ids = [...spec.members, ...(spec.layers ?? []).flat()];
    const tasks = await memberTasks(run, ids, lookup);
    const agentResults = Object.fromEntries(
      ids.map((id) => [id, { agent: tasks.get(id)?.agent ?? null, output: run.steps[id]?.output ?? null }]),
    );
    const outputs = spec.members.map((id) => run.steps[id]?.output ?? null);
    const decision =
      spec.strategy === 'voting' || spec.strategy === 'weighted'
        ? vote(spec, outputs, tasks)
        : spec.strategy === 'judge_based'
          ? judge(spec, outputs, state.output, tasks)
          : mixture(state.output);
    if (decision.error !== undefined) {
      const error = `step ${step.id} failed: ${decision.error}`;
      Object.assign(state, { status: 'failed', error });
      delete state.output;
      failure ??= { status: 'failed', error, step: step.id };
    } else {
      state.output = decision.output ?? null;
    }
    if (decision.record !== undefined)
      records.push({
        ownerId: run.ownerId,
        runId: run.id,
        stepId: step.id,
        taskId: taskOf.get(step.id) ?? null,
        strategy: spec.strategy,
        agentResults,
        ...decision.record,
      });
  }
  return failure === undefined ? { records } : { records, failure };
}

/** Trust moves for the members: agreeing with `decided` or not (none with `trust: false`). */
function trustMoves(
  spec: ConsensusSpec,
  outputs: readonly unknown[],
  decided: unknown,
  tasks: ReadonlyMap<string, MemberTask>,
): TrustMove[] {
  const amounts = spec.trust === undefined ? DEFAULT_CONSENSUS_TRUST : spec.trust;
  if (amounts === false) return [];
  return spec.members.flatMap((id, i) => {
    const task = tasks.get(id);
    if (task?.agentId == null) return [];
    const agreed = sameResult(outputs[i], decided);
    const delta = agreed ? amounts.agree : amounts.dissent;
    return delta === 0 ? [] : [{ agentId: task.agentId, memberStep: id, taskId: task.taskId, agreed, delta }];
  });
}

const round = (n: number): number => Math.round(n * 1e6) / 1e6;

function vote(
  spec: ConsensusSpec,
  outputs: readonly unknown[],
  tasks: ReadonlyMap<string, MemberTask>,
): Decision {
  const weighted = spec.strategy === 'weighted';
  // Trust as it is at decision time; a member whose agent has none (it was deleted) weighs 0.
  const weights = weighted ? spec.members.map((id) => tasks.get(id)?.trust ?? 0) : undefined;
  const { votes, totalWeight } = tallyVotes(outputs, weights);
  const top = votes[0]!;
  const n = outputs.length;
  const share = totalWeight > 0 ? round(top.weight / totalWeight) : 0;
  const quorum = spec.quorum ?? (weighted ? undefined : majorityOf(n));
  const reached = weighted
    ? quorum === undefined
      ? share > 0.5
      : share >= quorum
    : top.count >= (quorum ?? majorityOf(n));
  const agreement = weighted ? share : round(top.count / n);
  const tally = votes.map((v) => ({
    value: v.value,
    count: v.count,
    ...(weighted ? { weight: round(v.weight) } : {}),
    members: v.members.map((i) => spec.members[i]!),
  }));
  const weightOf = weights && Object.fromEntries(spec.members.map((id, i) => [id, weights[i]!]));
  const details = {
    tally,
    quorum: quorum ?? null,
    reached,
    agreement,
    ...(weighted ? { weights: weightOf, total_weight: round(totalWeight) } : {}),
  };
  if (!reached && spec.on_no_quorum !== 'continue') {
    const said = weighted
      ? `${share} of the trust weight agreed (${round(top.weight)} of ${round(totalWeight)}); quorum is ${quorum === undefined ? 'more than 0.5' : quorum}`
      : `${top.count} of ${n} members agreed; quorum is ${quorum}`;
    return {
      error: `NO_QUORUM: ${said}`,
      record: { finalResult: null, confidence: agreement, details, trust: [] },
    };
  }
  const output = {
    decision: top.value,
    reached,
    agreement,
    votes: tally.map(({ members: _members, ...v }) => v),
    quorum: quorum ?? null,
    ...(weighted ? { weights: weightOf } : {}),
  };
  // No outcome, no trust: a plurality carried on without a quorum agreed with nothing decided.
  const trust = reached ? trustMoves(spec, outputs, top.value, tasks) : [];
  return { output, record: { finalResult: top.value, confidence: agreement, details, trust } };
}

function judge(
  spec: ConsensusSpec,
  candidates: readonly unknown[],
  output: unknown,
  tasks: ReadonlyMap<string, MemberTask>,
): Decision {
  const verdict = readVerdict(output, candidates.length);
  if ('field' in verdict) return { error: `${verdict.field}: ${verdict.message} (the judge's verdict)` };
  const decision = candidates[verdict.choice] ?? null;
  return {
    output: { decision, ...verdict },
    record: {
      finalResult: decision,
      confidence: verdict.confidence,
      details: { choice: verdict.choice, reasoning: verdict.reasoning, chosen: spec.members[verdict.choice] },
      trust: trustMoves(spec, candidates, decision, tasks),
    },
  };
}

function mixture(output: unknown): Decision {
  const given =
    output !== null && typeof output === 'object'
      ? (output as Record<string, unknown>).confidence
      : undefined;
  const confidence = typeof given === 'number' && given >= 0 && given <= 1 ? given : null;
  return { output, record: { finalResult: output ?? null, confidence, details: {}, trust: [] } };
}

/**
 * Writes decisions in the caller's transaction (the one completing or failing their steps): a
 * consensus_results row each, and each member's trust move, clamped to [0, 1] from the score as
 * it is under this transaction, with a trust_records row (before, after, the run and step).
 */
export async function writeConsensusRecords(
  trx: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  records: readonly ConsensusRecord[],
): Promise<void> {
  if (records.length === 0) return;
  const now = toDbTimestamp(new Date());
  await trx
    .insertInto('consensus_results')
    .values(
      records.map((r) => ({
        id: newId(),
        owner_id: r.ownerId,
        run_id: r.runId,
        task_id: r.taskId,
        step_id: r.stepId,
        consensus_type: r.strategy,
        agent_results: toDbJson(r.agentResults),
        final_result: r.finalResult === null ? null : toDbJson(r.finalResult),
        confidence: r.confidence,
        strategy_details: toDbJson(r.details),
        created_at: now,
      })),
    )
    .execute();
  for (const r of records) {
    for (const move of r.trust) {
      let query = trx
        .selectFrom('agents')
        .select('trust_score')
        .where('id', '=', move.agentId)
        .where('owner_id', '=', r.ownerId);
      if (dialect.capabilities.skipLocked) query = query.forUpdate();
      const agent = await query.executeTakeFirst();
      if (agent === undefined) continue;
      const before = Number(agent.trust_score);
      const after = round(Math.min(1, Math.max(0, before + move.delta)));
      const delta = round(after - before);
      await trx
        .updateTable('agents')
        .set({ trust_score: after, updated_at: now })
        .where('id', '=', move.agentId)
        .execute();
      const sign = delta > 0 ? '+' : '';
      await trx
        .insertInto('trust_records')
        .values({
          id: newId(),
          owner_id: r.ownerId,
          agent_id: move.agentId,
          event_type: move.agreed ? 'consensus_agreed' : 'consensus_dissented',
          task_id: move.taskId,
          trust_delta: delta,
          trust_score_before: before,
          trust_score_after: after,
          reason: `${move.agreed ? 'agreed with' : 'dissented from'} the ${r.strategy} decision of step ${r.stepId} in run ${r.runId} (${sign}${delta})`,
          created_at: now,
        })
        .execute();
    }
  }
}
