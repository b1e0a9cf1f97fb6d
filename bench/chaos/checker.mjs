// The Jepsen-style checker: compares the client-side history (what Swarm answered) with what
// the database holds once the run has drained. Reads the tables straight, not through Swarm.
import { acceptedAnswer, expectedSteps } from './workload.mjs';

const TERMINAL = new Set(['completed', 'failed', 'cancelled', 'timeout']);

/** @param {number[]} values  @param {number} p */
export function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0
    ? null
    : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** @param {string | null} text */
const json = (text) => (text == null ? null : typeof text === 'string' ? JSON.parse(text) : text);

/**
 * Reads what the checks need. One snapshot (repeatable read), so the tables agree.
 * @param {import('pg').Client} client
 */
export async function readDatabase(client) {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const q = async (text) => (await client.query(text)).rows;
    const data = {
      runs: await q(
        `SELECT id, workflow_name, status, error, error_step, trigger_type, trigger_data, step_results
           FROM workflow_runs`,
      ),
      firings: await q(`SELECT fire_key, run_id, status, error FROM trigger_firings`),
      tasks: await q(
        // Every column: lease_losses (how often a task's lease ran out under it) is newer than
        // some builds this may check.
        `SELECT * FROM tasks WHERE run_id IS NOT NULL`,
      ),
      // Every ended claim. The one that completed a task has no row in newer builds (it stays
      // on the task row, src/queue/assignments.ts): it is read from there unless a row has it.
      assignments: await q(
        `SELECT task_id, worker_id, status,
                (extract(epoch FROM assigned_at) * 1000)::float8 AS assigned_ms,
                (extract(epoch FROM released_at) * 1000)::float8 AS released_ms
           FROM (SELECT task_id, worker_id, status, assigned_at, released_at FROM worker_assignments
                 UNION ALL
                 SELECT t.id, t.worker_id, 'completed', coalesce(t.assigned_at, t.started_at), t.completed_at
                   FROM tasks AS t
                  WHERE t.status = 'COMPLETED' AND t.worker_id IS NOT NULL
                    AND NOT EXISTS (SELECT 1 FROM worker_assignments AS a
                                     WHERE a.task_id = t.id AND a.lease_epoch = t.lease_epoch)) AS ended`,
      ),
      // The engine logs each step's state changes and the run's end once: a second "completed"
      // line is a step recorded twice.
      stepLogs: await q(
        `SELECT run_id, step_id, count(*)::int AS n FROM execution_logs
          WHERE step_id IS NOT NULL AND task_id IS NULL AND message = 'step ' || step_id || ' completed'
          GROUP BY run_id, step_id`,
      ),
      endLogs: await q(
        `SELECT run_id, count(*)::int AS n FROM execution_logs
          WHERE step_id IS NULL AND (message = 'run completed' OR message LIKE 'run failed at step %')
          GROUP BY run_id`,
      ),
      // The concurrency limits in force (flow control, migration 0026); none in older builds.
      flowLimits: (await q(`SELECT to_regclass('flow_keys') IS NOT NULL AS present`))[0]?.present
        ? await q(`SELECT key, max_running FROM flow_keys WHERE max_running IS NOT NULL`)
        : [],
    };
    return data;
  } finally {
    await client.query('COMMIT');
  }
}

/**
 * @param {import('./workload.mjs').History} history
 * @param {Awaited<ReturnType<typeof readDatabase>>} db
 * @param {Array<{type: string, at: number, workerId?: string, pid?: number, tookMs?: number, to?: number}>} faults
 *   every fault carried out (kills and stalls name the worker, PostgreSQL restarts their span),
 *   and the stalls of the machine this process saw (`machine-stall`, from `at` to `to`)
 * @param {number} leaseMs
 * @param {{flow?: boolean, slackMs?: number}} [options]  flow: also check the concurrency limits
 */
export function check(history, db, faults, leaseMs, options = {}) {
  const runById = new Map(db.runs.map((r) => [r.id, r]));
  /** @type {Map<string, any[]>} */
  const runsByKey = new Map();
  for (const run of db.runs) {
    const key = json(run.trigger_data)?.key;
    runsByKey.set(key, [...(runsByKey.get(key) ?? []), run]);
  }
  const firingByKey = new Map(db.firings.map((f) => [f.fire_key, f]));

  /** Each a list of {what, key?, runId?, detail} so the report can show examples. */
  const lost = [];
  const duplicatedRuns = [];
  const mismatched = [];
  const indeterminate = { api: 0, apiWithRun: 0, hooks: 0, hooksWithRun: 0 };
  /** @type {Array<{runId: string, kind: string, key: string, data: object}>} the runs Swarm promised */
  const promised = [];

  for (const op of history.api) {
    const runs = runsByKey.get(op.key) ?? [];
    if (runs.length > 1) duplicatedRuns.push({ key: op.key, runs: runs.map((r) => r.id) });
    if (op.status >= 200 && op.status < 300) {
      if (op.runId === null || !runById.has(op.runId))
        lost.push({ what: 'api 2xx without its run', key: op.key, runId: op.runId });
      else promised.push({ runId: op.runId, kind: 'dag', key: op.key, data: op.data });
    } else {
      indeterminate.api++;
      if (runs.length > 0) {
        indeterminate.apiWithRun++;
        // Swarm did start it: it must finish like any other.
        promised.push({ runId: runs[0].id, kind: 'dag', key: op.key, data: op.data });
      }
    }
  }

  /** @type {Map<string, string>} key -> the run its first 2xx named */
  const hookRun = new Map();
  for (const entry of history.hooks) {
    const ok = acceptedAnswer(entry);
    const runs = runsByKey.get(entry.key) ?? [];
    if (!entry.resend && runs.length > 1)
      duplicatedRuns.push({ key: entry.key, runs: runs.map((r) => r.id) });
    // Every 2xx answer of the delivery (a 202, or a 200 for a retry whose first attempt was
    // recorded before the connection died) must name the same run.
    for (const a of entry.answers.filter((x) => x.status >= 200 && x.status < 300)) {
      const first = hookRun.get(entry.key);
      if (first === undefined) hookRun.set(entry.key, a.runId);
      else if (first !== a.runId) mismatched.push({ key: entry.key, first, got: a.runId });
    }
    if (entry.resend) continue;
    const firing = firingByKey.get(`idem:${entry.key}`);
    if (ok !== null) {
      if (
        firing === undefined ||
        firing.run_id === null ||
        firing.run_id !== ok.runId ||
        !runById.has(ok.runId)
      )
        lost.push({
          what: 'webhook 2xx without its run',
          key: entry.key,
          runId: ok.runId,
          firing: firing ?? null,
        });
      else promised.push({ runId: ok.runId, kind: 'hook', key: entry.key, data: entry.data });
    } else {
      indeterminate.hooks++;
      if (runs.length > 0) {
        indeterminate.hooksWithRun++;
        promised.push({ runId: runs[0].id, kind: 'hook', key: entry.key, data: entry.data });
      }
    }
  }
  const sentKeys = new Set([...history.api.map((o) => o.key), ...history.hooks.map((h) => h.key)]);
  const phantom = db.runs.filter((r) => !sentKeys.has(json(r.trigger_data)?.key));

  // Runs: each promised run ends, and ends completed with the outputs its input implies.
  const stuck = [];
  const failed = [];
  const wrongOutput = [];
  for (const p of promised) {
    const run = runById.get(p.runId);
    if (!TERMINAL.has(run.status)) {
      stuck.push({
        runId: run.id,
        key: p.key,
        status: run.status,
        steps: stepSummary(json(run.step_results)),
      });
      continue;
    }
    if (run.status !== 'completed') {
      failed.push({
        runId: run.id,
        key: p.key,
        status: run.status,
        step: run.error_step,
        error: run.error,
        cause: failureCause(run.id, db, faults, leaseMs),
      });
      continue;
    }
    const steps = json(run.step_results) ?? {};
    for (const [stepId, verify] of Object.entries(expectedSteps(p.kind, p.data))) {
      const state = steps[stepId];
      const problem =
        state?.status !== 'completed'
          ? `step ${stepId} is ${state?.status ?? 'missing'}`
          : state.items !== undefined && state.items.done !== state.items.total
            ? `step ${stepId}: ${state.items.done} of ${state.items.total} items done`
            : verify(state.output);
      if (problem !== null) wrongOutput.push({ runId: run.id, key: p.key, step: stepId, problem });
    }
  }

  // Steps: one task per step (per item), completed by one claim, logged completed once.
  const ours = new Set(promised.map((p) => p.runId));
  const taskBySlot = new Map();
  const duplicatedTasks = [];
  for (const task of db.tasks) {
    if (!ours.has(task.run_id)) continue;
    const slot = `${task.run_id}/${task.step_id}/${task.item_index ?? '-'}`;
    if (taskBySlot.has(slot)) duplicatedTasks.push({ slot, tasks: [taskBySlot.get(slot).id, task.id] });
    else taskBySlot.set(slot, task);
  }
  const completedClaims = new Map();
  for (const a of db.assignments)
    if (a.status === 'completed') completedClaims.set(a.task_id, (completedClaims.get(a.task_id) ?? 0) + 1);
  const completedTwice = [...completedClaims].filter(([, n]) => n > 1).map(([taskId, n]) => ({ taskId, n }));
  const loggedTwice = [
    ...db.stepLogs.filter((l) => l.n > 1).map((l) => ({ runId: l.run_id, step: l.step_id, lines: l.n })),
    ...db.endLogs.filter((l) => l.n > 1).map((l) => ({ runId: l.run_id, step: '(run end)', lines: l.n })),
  ];
  const taskStatuses = {};
  let retriedTasks = 0;
  let leaseLostTasks = 0;
  for (const task of taskBySlot.values()) {
    taskStatuses[task.status] = (taskStatuses[task.status] ?? 0) + 1;
    if (task.retry_count > 0) retriedTasks++;
    if ((task.lease_losses ?? 0) > 0) leaseLostTasks++;
  }

  return {
    promised: promised.length,
    lost,
    duplicatedRuns,
    duplicatedSteps: [...duplicatedTasks, ...completedTwice, ...loggedTwice],
    mismatched,
    phantom: phantom.map((r) => ({ runId: r.id, key: json(r.trigger_data)?.key })),
    stuck,
    failed,
    wrongOutput,
    indeterminate,
    tasks: taskBySlot.size,
    taskStatuses,
    retriedTasks,
    leaseLostTasks,
    reclaim: reclaimLatency(
      db.assignments,
      faults.filter((f) => (f.type === 'kill' || f.type === 'stall') && f.workerId),
    ),
    flow: options.flow ? concurrencyHeld(db.tasks, db.flowLimits ?? [], options.slackMs) : null,
  };
}

/** @param {unknown} v  a timestamp as pg returns it (Date) or as text; null stays null */
const ms = (v) => (v == null ? null : v instanceof Date ? v.getTime() : new Date(String(v)).getTime());

/**
 * Did each concurrency key keep at most `limit` tasks running at once? Only what the database
 * recorded can be checked: the attempt that ended each task (`started_at`, `completed_at`,
 * `duration_ms`). An attempt whose lease was taken away leaves no trace there, and a worker
 * stalled past its lease may go on executing after its slot was freed and given to another —
 * by design: its result is refused (fenced by lease_epoch), so it is not the task's attempt.
 * `worker_assignments` is not used: when its rows are written is not this check's to rely on.
 *
 * Both recorded times are clocks read before a transaction: `started_at` before the claim's
 * (which may then take a while to commit, and take its slot only then), `completed_at` before
 * the completion's (which frees the slot when it commits). So a slot was held from some moment
 * in [started_at, completed_at - duration_ms] (the worker ran the task after its claim committed
 * and read the completion clock after it ran) to some moment after completed_at: the slot was
 * certainly held over [completed_at - duration_ms, completed_at]. More than `limit` of those at
 * once is a violation whatever the commit times were (`slackMs` absorbs the rounding to
 * milliseconds). The wider [started_at, completed_at] are counted too (`maxRecorded`), but are
 * no proof: two claims whose transactions ran one after the other can have stamped overlapping
 * starts.
 * @param {Array<Record<string, any>>} tasks
 * @param {Array<{key: string, max_running: number}>} limits
 * @param {number} [slackMs]
 */
export function concurrencyHeld(tasks, limits, slackMs = 2) {
  const limitOf = new Map(limits.map((l) => [l.key, Number(l.max_running)]));
  /** @type {Map<string, Array<{id: string, from: number, to: number, heldFrom: number | null}>>} */
  const byKey = new Map();
  let checkedTasks = 0;
  for (const t of tasks) {
    const keys =
      t.flow_keys != null ? json(t.flow_keys) : t.concurrency_key != null ? [t.concurrency_key] : [];
    const limited = keys.filter((k) => limitOf.has(k));
    if (limited.length === 0) continue;
    const from = ms(t.started_at);
    const to = ms(t.completed_at);
    // Not ended, or its start wiped (released, slept): no recorded attempt.
    if (from === null || to === null || to < from) continue;
    const heldFrom = t.duration_ms == null ? null : to - Number(t.duration_ms);
    checkedTasks++;
    for (const k of limited) byKey.set(k, [...(byKey.get(k) ?? []), { id: t.id, from, to, heldFrom }]);
  }
  const violations = [];
  /** @type {Record<string, {limit: number, tasks: number, maxHeld: number, maxRecorded: number}>} */
  const keys = {};
  for (const [key, spans] of byKey) {
    const limit = /** @type {number} */ (limitOf.get(key));
    const held = spans
      .filter((s) => s.heldFrom !== null)
      .map((s) => ({ id: s.id, from: /** @type {number} */ (s.heldFrom) + slackMs, to: s.to }));
    const certain = sweep(held, limit);
    for (const v of certain.excesses) violations.push({ key, limit, ...v });
    keys[key] = {
      limit,
      tasks: spans.length,
      maxHeld: certain.max,
      maxRecorded: sweep(spans, limit).max,
    };
  }
  return { keys, checkedTasks, violations, slackMs };
}

/**
 * The most [from, to) intervals open at once, and each stretch with more than `limit` open.
 * @param {Array<{id: string, from: number, to: number}>} spans
 * @param {number} limit
 */
function sweep(spans, limit) {
  const events = spans
    .filter((s) => s.to > s.from)
    .flatMap((s) => [
      { at: s.from, d: 1, s },
      { at: s.to, d: -1, s },
    ]);
  // An end before a start at the same instant.
  events.sort((a, b) => a.at - b.at || a.d - b.d);
  const open = new Set();
  let max = 0;
  const excesses = [];
  /** @type {{at: number, running: number, tasks: Set<string>} | null} */
  let excess = null;
  for (const e of events) {
    if (e.d > 0) open.add(e.s);
    else open.delete(e.s);
    max = Math.max(max, open.size);
    if (open.size > limit) {
      excess ??= { at: e.at, running: 0, tasks: new Set() };
      excess.running = Math.max(excess.running, open.size);
      for (const s of open) excess.tasks.add(s.id);
    } else if (excess !== null) {
      excesses.push({
        at: excess.at,
        running: excess.running,
        lastedMs: e.at - excess.at,
        tasks: [...excess.tasks],
      });
      excess = null;
    }
  }
  return { max, excesses };
}

/**
 * Why a failed run failed, when it failed because its task's lease was taken away more often
 * than Swarm retries that (SWARM_MAX_LEASE_LOSSES):
 * - 'faults': every lease it lost was held by a worker this run killed or stalled while it held
 *   it, or was lost across a PostgreSQL restart — the designed outcome of that many faults;
 * - 'machine': some losses had no such fault but fell in a stall of the machine itself (this
 *   process did not run for a third of a lease or more: every process on it was starved);
 * - null: any other failure, or a lease lost by a live, running worker on a running machine —
 *   unexplained, a defect.
 */
function failureCause(runId, db, faults, leaseMs) {
  const failing = db.tasks.filter((t) => t.run_id === runId && ['FAILED', 'TIMEOUT'].includes(t.status));
  if (failing.length === 0 || !failing.every((t) => /^lease lost/.test(t.error_message ?? ''))) return null;
  const ids = new Set(failing.map((t) => t.id));
  const lost = db.assignments.filter((a) => ids.has(a.task_id) && a.status === 'lost');
  if (lost.length === 0) return null;
  const end = (a) => a.released_ms ?? Infinity;
  const within = (a, at) => a.assigned_ms <= at && at <= end(a);
  const overlaps = (a, from, to) => from <= end(a) && a.assigned_ms <= to;
  const byFault = (a) =>
    faults.some((f) =>
      f.type === 'kill' || f.type === 'stall'
        ? f.workerId === a.worker_id && within(a, f.at)
        : f.type === 'server-kill'
          ? a.worker_id.split(':')[1] === String(f.pid) && within(a, f.at)
          : f.type === 'pg-restart' && overlaps(a, f.at, f.at + (f.tookMs ?? 0)),
    );
  const byMachine = (a) =>
    faults.some((f) => f.type === 'machine-stall' && f.to - f.at >= leaseMs / 3 && overlaps(a, f.at, f.to));
  if (lost.every(byFault)) return 'faults';
  if (lost.every((a) => byFault(a) || byMachine(a))) return 'machine';
  return null;
}

/** @param {Record<string, {status: string}> | null} steps */
function stepSummary(steps) {
  return Object.entries(steps ?? {})
    .map(([id, s]) => `${id}:${s.status}`)
    .join(' ');
}

/**
 * Re-claim latency: for each task a killed or stalled worker held at the moment of the fault,
 * the time from the fault to the task's next claim by a worker (from the ended claims read
 * above: `worker_assignments` and the completed tasks' own rows).
 * @param {Array<{task_id: string, worker_id: string, status: string, assigned_ms: number, released_ms: number | null}>} assignments
 * @param {Array<{type: string, workerId: string, at: number}>} faults
 */
function reclaimLatency(assignments, faults) {
  const byTask = new Map();
  const byWorker = new Map();
  for (const a of assignments) {
    byTask.set(a.task_id, [...(byTask.get(a.task_id) ?? []), a]);
    byWorker.set(a.worker_id, [...(byWorker.get(a.worker_id) ?? []), a]);
  }
  /** @type {Record<string, number[]>} */
  const latencies = { kill: [], stall: [] };
  const notReclaimed = { kill: 0, stall: 0 };
  for (const fault of faults) {
    for (const held of byWorker.get(fault.workerId) ?? []) {
      if (held.assigned_ms > fault.at || held.status === 'completed' || held.status === 'released') continue;
      if (held.released_ms !== null && held.released_ms < fault.at) continue;
      const next = (byTask.get(held.task_id) ?? [])
        .filter((a) => a.assigned_ms > fault.at && a.worker_id !== fault.workerId)
        .sort((a, b) => a.assigned_ms - b.assigned_ms)[0];
      if (next === undefined) notReclaimed[fault.type]++;
      else latencies[fault.type].push(next.assigned_ms - fault.at);
    }
  }
  const summary = (/** @type {number[]} */ v) => ({
    tasks: v.length,
    p50: percentile(v, 50),
    p95: percentile(v, 95),
    max: v.length === 0 ? null : Math.max(...v),
  });
  return {
    kill: { ...summary(latencies.kill), notReclaimed: notReclaimed.kill },
    stall: { ...summary(latencies.stall), notReclaimed: notReclaimed.stall },
    all: summary([...latencies.kill, ...latencies.stall]),
  };
}
