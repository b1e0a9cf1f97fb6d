import { describe, expect, it } from 'vitest';
import { check, concurrencyHeld, type ChaosDatabase, type ChaosHistory } from '../../bench/chaos/checker.mjs';

// The chaos suite's checker (`npm run chaos`) must find what it looks for: each anomaly below is
// planted in a history and a database snapshot and must be reported, and a clean run must not be.

const LEASE = 10_000;
const items = [2, 3];
const dagData = (key: string) => ({ key, items, delay_ms: 0, expected: 13 });
const dagSteps = (key: string, sum = 13) =>
  JSON.stringify({
    prepare: { status: 'completed', output: { key, items } },
    wait: { status: 'completed', output: { waited_ms: 0 } },
    square: {
      status: 'completed',
      items: { total: 2, done: 2 },
      output: [
        { i: 0, v: 4 },
        { i: 1, v: 9 },
      ],
    },
    total: { status: 'completed', output: { count: 2, sum } },
    verdict: { status: 'completed', output: { result: true } },
    done: { status: 'completed', output: { sum, ok: true, key } },
  });
const run = (id: string, key: string, status = 'completed', steps = dagSteps(key)) => ({
  id,
  workflow_name: 'chaos-dag',
  status,
  error: status === 'failed' ? 'step prepare failed: lease lost 3 times' : null,
  error_step: status === 'failed' ? 'prepare' : null,
  trigger_type: 'manual',
  trigger_data: JSON.stringify(dagData(key)),
  step_results: steps,
});
const task = (
  id: string,
  runId: string,
  stepId: string,
  status = 'COMPLETED',
  error: string | null = null,
) => ({
  id,
  run_id: runId,
  step_id: stepId,
  item_index: null,
  status,
  retry_count: 0,
  lease_losses: status === 'TIMEOUT' ? 3 : 0,
  error_message: error,
});
const api = (key: string, runId: string | null, status = 202) => ({
  kind: 'api' as const,
  key,
  data: dagData(key),
  status,
  runId,
  at: 0,
});
const empty = (): ChaosDatabase => ({
  runs: [],
  firings: [],
  tasks: [],
  assignments: [],
  stepLogs: [],
  endLogs: [],
});

describe('the chaos checker', () => {
  it('passes a clean history', () => {
    const db = empty();
    db.runs.push(run('r1', 'a1'));
    db.tasks.push(task('t1', 'r1', 'prepare'));
    db.assignments.push({
      task_id: 't1',
      worker_id: 'w:1:x',
      status: 'completed',
      assigned_ms: 0,
      released_ms: 5,
    });
    const result = check({ api: [api('a1', 'r1')], hooks: [] }, db, [], LEASE);
    expect(result.promised).toBe(1);
    for (const list of [
      result.lost,
      result.duplicatedRuns,
      result.duplicatedSteps,
      result.stuck,
      result.failed,
      result.wrongOutput,
      result.mismatched,
      result.phantom,
    ])
      expect(list).toEqual([]);
  });

  it('finds lost, duplicated, stuck, wrong, mismatched and phantom runs', () => {
    const db = empty();
    db.runs.push(run('dup1', 'dup'), run('dup2', 'dup'), run('r3', 'stuck', 'running'));
    db.runs.push(run('r4', 'wrong', 'completed', dagSteps('wrong', 12)), run('r5', 'nobody-sent-this'));
    db.runs.push({
      ...run('h1', 'hook-1'),
      workflow_name: 'chaos-hook',
      trigger_data: JSON.stringify({ key: 'hook-1', items }),
      step_results: JSON.stringify({
        receive: { status: 'completed', output: { key: 'hook-1', items } },
        double: { status: 'completed', output: [{ v: 4 }, { v: 6 }] },
        sum: { status: 'completed', output: { key: 'hook-1', sum: 10 } },
      }),
    });
    db.firings.push({ fire_key: 'idem:hook-1', run_id: 'h1', status: 'started', error: null });
    const history: ChaosHistory = {
      api: [api('lost', 'r-missing'), api('dup', 'dup1'), api('stuck', 'r3'), api('wrong', 'r4')],
      hooks: [
        // accepted, but no firing in the database
        {
          kind: 'hook',
          key: 'hook-0',
          data: { key: 'hook-0', items },
          resend: false,
          answers: [{ status: 202, runId: 'hx', duplicate: false, at: 0 }],
        },
        // two 2xx answers naming different runs
        {
          kind: 'hook',
          key: 'hook-1',
          data: { key: 'hook-1', items },
          resend: false,
          answers: [
            { status: 202, runId: 'h1', duplicate: false, at: 0 },
            { status: 200, runId: 'h9', duplicate: true, at: 1 },
          ],
        },
      ],
    };
    const result = check(history, db, [], LEASE);
    expect(result.lost.map((l) => l.key).sort()).toEqual(['hook-0', 'lost']);
    expect(result.duplicatedRuns).toEqual([{ key: 'dup', runs: ['dup1', 'dup2'] }]);
    expect(result.stuck.map((s) => s.runId)).toEqual(['r3']);
    expect(result.wrongOutput.map((w) => [w.runId, w.step])).toEqual([
      ['r4', 'total'],
      ['r4', 'done'],
    ]);
    expect(result.mismatched).toHaveLength(1);
    expect(result.phantom.map((p) => p.runId)).toEqual(['r5']);
  });

  it('finds a step recorded twice: two tasks for one step, two completed claims, two log lines', () => {
    const db = empty();
    db.runs.push(run('r1', 'a1'));
    db.tasks.push(task('t1', 'r1', 'prepare'), task('t2', 'r1', 'prepare'), task('t3', 'r1', 'wait'));
    for (const worker of ['w:1:a', 'w:2:b'])
      db.assignments.push({
        task_id: 't3',
        worker_id: worker,
        status: 'completed',
        assigned_ms: 0,
        released_ms: 1,
      });
    db.stepLogs.push({ run_id: 'r1', step_id: 'done', n: 2 });
    const result = check({ api: [api('a1', 'r1')], hooks: [] }, db, [], LEASE);
    expect(result.duplicatedSteps).toHaveLength(3);
  });

  it('explains a lease-loss failure only by faults that hit the worker holding the lease', () => {
    const db = empty();
    db.runs.push(run('r1', 'k1', 'failed'));
    db.tasks.push(task('t1', 'r1', 'prepare', 'TIMEOUT', 'lease lost 3 times (worker died or stalled)'));
    for (const [i, worker] of ['w:1:a', 'w:2:b', 'w:3:c'].entries()) {
      const at = i * 20_000;
      db.assignments.push({
        task_id: 't1',
        worker_id: worker,
        status: 'lost',
        assigned_ms: at,
        released_ms: at + 15_000,
      });
    }
    const faults = [
      { type: 'kill', workerId: 'w:1:a', at: 1000 },
      { type: 'stall', workerId: 'w:2:b', at: 21_000 },
      { type: 'kill', workerId: 'w:3:c', at: 41_000 },
    ];
    // Each of its three lost leases was held by a worker killed or stalled while holding it…
    expect(check({ api: [api('k1', 'r1')], hooks: [] }, db, faults, LEASE).failed).toEqual([
      expect.objectContaining({ runId: 'r1', cause: 'faults' }),
    ]);
    // …but without the last kill, the third loss is a live worker's: unexplained.
    const partly = check({ api: [api('k1', 'r1')], hooks: [] }, db, faults.slice(0, 2), LEASE);
    expect(partly.failed).toEqual([expect.objectContaining({ runId: 'r1', cause: null })]);
    // A stall of the whole machine over that lease explains it as the machine's.
    const machine = check(
      { api: [api('k1', 'r1')], hooks: [] },
      db,
      [...faults.slice(0, 2), { type: 'machine-stall', at: 42_000, to: 47_000 }],
      LEASE,
    );
    expect(machine.failed).toEqual([expect.objectContaining({ runId: 'r1', cause: 'machine' })]);
  });

  it('measures re-claim latency from the fault to the next claim by another worker', () => {
    const db = empty();
    db.assignments.push(
      { task_id: 't1', worker_id: 'w:1:a', status: 'lost', assigned_ms: 900, released_ms: 12_000 },
      { task_id: 't1', worker_id: 'w:2:b', status: 'completed', assigned_ms: 13_000, released_ms: 13_100 },
      // completed before the kill: nothing to take back
      { task_id: 't2', worker_id: 'w:1:a', status: 'completed', assigned_ms: 100, released_ms: 200 },
    );
    const result = check({ api: [], hooks: [] }, db, [{ type: 'kill', workerId: 'w:1:a', at: 1000 }], LEASE);
    expect(result.reclaim.kill).toMatchObject({ tasks: 1, p50: 12_000, p95: 12_000, notReclaimed: 0 });
  });

  describe('with --flow: the concurrency limits held', () => {
    const KEY = JSON.stringify(['c', 'step', 'owner', 'chaos-dag', 'wait', '1']);
    const OTHER = JSON.stringify(['c', 'step', 'owner', 'chaos-dag', 'wait', '2']);
    const RATE = JSON.stringify(['r', 'step', 'owner', 'chaos-dag', 'square', '']);
    const limits = [
      { key: KEY, max_running: 2 },
      { key: OTHER, max_running: 2 },
    ];
    const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms);
    /** A task's recorded attempt: claimed (clock) at `from`, ran `ran` ms, completion clock at `to`. */
    const attempt = (id: string, from: number, to: number | null, ran: number | null, keys = [KEY]) => ({
      ...task(id, 'r1', 'wait'),
      flow_keys: JSON.stringify(keys),
      concurrency_key: keys[0],
      started_at: at(from),
      completed_at: to === null ? null : at(to),
      duration_ms: ran,
    });

    it('passes when no key ever certainly held more slots than its limit', () => {
      const tasks = [
        attempt('t1', 0, 300, 290),
        attempt('t2', 100, 400, 290),
        // ran right after t1's completion: the slot t1 freed
        attempt('t3', 250, 500, 190),
        // stamped at 0 (its claim's transaction then waited), ran only at the end: overlaps the
        // others as recorded, not as held
        attempt('t4', 0, 600, 50),
        // another key, overlapping freely with the first
        attempt('t5', 0, 500, 500, [OTHER]),
        attempt('t6', 0, 500, 500, [OTHER]),
        // a rate key is no concurrency key
        attempt('t7', 0, 500, 500, [RATE]),
        // no recorded attempt: not ended, or its start wiped
        attempt('t8', 0, null, null),
        { ...attempt('t9', 0, 500, 500), started_at: null },
      ];
      const result = concurrencyHeld(tasks, limits);
      expect(result.violations).toEqual([]);
      expect(result.checkedTasks).toBe(6);
      expect(result.keys[KEY]).toEqual({ limit: 2, tasks: 4, maxHeld: 2, maxRecorded: 4 });
      expect(result.keys[OTHER]).toEqual({ limit: 2, tasks: 2, maxHeld: 2, maxRecorded: 2 });
      expect(result.keys[RATE]).toBeUndefined();
    });

    it('finds a key that certainly held more slots than its limit, and reports it through check()', () => {
      const db = empty();
      db.runs.push(run('r1', 'a1'));
      db.tasks.push(
        attempt('t1', 0, 1000, 1000),
        attempt('t2', 200, 1000, 800),
        attempt('t3', 400, 900, 500),
      );
      db.flowLimits = limits;
      const result = check({ api: [api('a1', 'r1')], hooks: [] }, db, [], LEASE, { flow: true });
      // all three certainly held from 402 (t3's start + the 2 ms of rounding) to 900
      expect(result.flow?.violations).toEqual([
        { key: KEY, limit: 2, running: 3, at: at(402).getTime(), lastedMs: 498, tasks: ['t1', 't2', 't3'] },
      ]);
      expect(result.flow?.keys[KEY]).toMatchObject({ maxHeld: 3, maxRecorded: 3 });
      // without --flow, nothing is checked
      expect(check({ api: [api('a1', 'r1')], hooks: [] }, db, [], LEASE).flow).toBeNull();
    });

    it('does not count an attempt with no duration as held, nor an overlap within the rounding', () => {
      const result = concurrencyHeld(
        [
          attempt('t1', 0, 1000, 1000),
          attempt('t2', 0, 1000, 1000),
          attempt('t3', 0, 1000, null),
          // held from 999 (+2 ms of rounding): not before t1 and t2 end
          attempt('t4', 0, 1001, 2),
        ],
        limits,
      );
      expect(result.violations).toEqual([]);
      expect(result.keys[KEY]).toMatchObject({ maxHeld: 2, maxRecorded: 4 });
    });
  });
});
