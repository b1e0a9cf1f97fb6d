// The tables printed at the end of `npm run bench`: workload (a) against the peers with ratios,
// Swarm's engine workloads (b)–(d), and the targets each figure is measured against.

/** @param {number | undefined} n */
const num = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : '—');
/** @param {number | undefined} n  milliseconds */
const ms = (n) => (typeof n === 'number' ? `${n.toLocaleString('en-US')}` : '—');
/**
 * @param {number | undefined} ours
 * @param {number | undefined} theirs
 */
const ratio = (ours, theirs) => (ours && theirs ? `${(ours / theirs).toFixed(2)}×` : '—');

/**
 * Prints a table: names left-aligned, figures right-aligned, the last column (status) unpadded.
 * @param {string[]} header
 * @param {string[][]} body
 * @param {number} firstFigure  index of the first right-aligned column
 */
function table(header, body, firstFigure) {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((c) => String(c[i]).length)));
  const line = (/** @type {string[]} */ cells) =>
    cells
      .map((c, i) =>
        i === cells.length - 1
          ? String(c)
          : i >= firstFigure
            ? String(c).padStart(widths[i] ?? 0)
            : String(c).padEnd(widths[i] ?? 0),
      )
      .join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const cells of body) console.log(line(cells));
}

/**
 * @param {any} report  as written to bench/results/*.json
 * @param {{ swarmPresent: boolean }} opts
 */
export function printReport(report, { swarmPresent }) {
  const { rows, engineRows = [], limit, machine } = report;
  const ok = (/** @type {any} */ r) => r.status === 'ok';
  const swarmRows = rows.filter((/** @type {any} */ r) => r.system === 'swarm');
  const peers = rows.filter((/** @type {any} */ r) => r.system !== 'swarm' && ok(r));

  if (rows.length > 0) {
    console.log(
      `\n(a) ${report.jobs.toLocaleString('en-US')} no-op jobs per row, bulk-enqueued in batches of ${report.batchSize}, then drained; median of ${report.repeats}`,
    );
    table(
      [
        'system',
        'config',
        'enqueue jobs/s',
        'process jobs/s',
        'peak RSS MB',
        'worker procs',
        'worker RSS MB',
        'status',
      ],
      rows.map((/** @type {any} */ r) => [
        `${r.system} ${r.version}`,
        r.config,
        num(r.enqueuePerSec),
        num(r.processPerSec),
        num(r.peakRssMb),
        r.workerProcesses ? `${r.workerProcesses} procs` : 'in-process',
        num(r.workerRssMb),
        r.status,
      ]),
      2,
    );
    console.log(
      '  peak RSS: the process that ran the row (for worker processes: the one that enqueued); worker RSS: the largest worker process',
    );

    // Ratios: each Swarm PostgreSQL row over each peer row (ours / theirs; > 1 means Swarm is faster).
    const swarmPg = swarmRows.filter((/** @type {any} */ r) => ok(r) && r.backend === 'postgres');
    if (swarmPg.length > 0 && peers.length > 0) {
      console.log('\n(a) ratios, Swarm / peer (above 1.00× Swarm is faster): process jobs/s, enqueue jobs/s');
      table(
        ['swarm row', ...peers.map((/** @type {any} */ p) => `${p.system} ${p.config}`)],
        swarmPg.map((/** @type {any} */ s) => [
          s.config,
          ...peers.map(
            (/** @type {any} */ p) =>
              `${ratio(s.processPerSec, p.processPerSec)}, ${ratio(s.enqueuePerSec, p.enqueuePerSec)}`,
          ),
        ]),
        1,
      );
    }

    console.log('\nconfigs:');
    for (const r of rows) console.log(`  ${r.system} (${r.config}): ${r.description}`);
  }

  printEngine(engineRows, report.engine);
  printProcess(report.processRows ?? []);

  if (limit) {
    const fmt = (/** @type {Record<string, number>} */ m) =>
      Object.entries(m)
        .map(([k, v]) => `${num(v)} tx/s with ${k.slice(1)} connection${k === 'c1' ? '' : 's'}`)
        .join(', ');
    console.log(
      '\nmachine limit, one job per transaction (insert + claim FOR UPDATE SKIP LOCKED + delete + commit):',
    );
    console.log(`  node + pg: ${fmt(limit.txPerSec)}`);
    console.log(`  pgbench:   ${limit.pgbenchTxPerSec ? fmt(limit.pgbenchTxPerSec) : 'not installed'}`);
  }

  printTargets(swarmRows, peers, engineRows);

  if (!swarmPresent) console.log('\nSwarm: bench/systems/swarm.mjs is missing; its rows are not measured.');
  console.log(
    `\nmachine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGb} GB, ${machine.os}, node ${machine.node}, ` +
      `PostgreSQL ${machine.postgres ?? '—'} (fsync ${machine.postgresSettings?.fsync ?? '—'}, synchronous_commit ${machine.postgresSettings?.synchronous_commit ?? '—'}), ` +
      `Redis ${machine.redis ?? '—'}, ${machine.date}`,
  );
  if (report.source) {
    console.log(
      `source: Swarm at ${report.source.commit}${report.source.srcModified ? ' with uncommitted changes in src/' : ''} (dist/ as last built)`,
    );
  }
}

/**
 * (e) the process runtime: the spawn cost of a no-op node agent per task.
 * @param {any[]} processRows
 */
function printProcess(processRows) {
  if (processRows.length === 0) return;
  const first = processRows[0];
  console.log(
    `\n(e) ${first.title}: ${num(first.tasks)} standalone tasks, worker concurrency ${num(first.concurrency)}, real ProcessRuntime + ProcessSandbox`,
  );
  table(
    ['setup', 'tasks/s', 'ms per task', 'task p50 ms', 'task p99 ms', 'peak RSS MB', 'status'],
    processRows.map((/** @type {any} */ r) => [
      r.setup,
      num(r.tasksPerSec),
      ms(r.msPerTask),
      ms(r.p50Ms),
      ms(r.p99Ms),
      num(r.peakRssMb),
      r.status,
    ]),
    1,
  );
  console.log(
    '  tasks/s: N / (enqueue → the store shows all N done); ms per task: the same span / N; task p50/p99: claim → completion recorded of each task (one node process each, or a warm one for the -warm setups); peak RSS: the worker process (agents not included)',
  );
  for (const r of processRows) console.log(`  ${r.setup}: ${r.description}`);
}

/**
 * @param {any[]} engineRows
 * @param {any} sizes  report.engine
 */
function printEngine(engineRows, sizes) {
  if (engineRows.length === 0) return;
  const of = (/** @type {string} */ w) => engineRows.filter((r) => r.workload === w);
  const procs = (/** @type {any} */ r) => (r.workers ? `${r.workers} procs` : 'in-process');
  const rss = (/** @type {any} */ r) => [num(r.peakRssMb), num(r.workerRssMb)];
  const times = sizes?.repeats > 1 ? `median of ${sizes.repeats}` : 'one run per row';

  const linear = of('linear');
  if (linear.length > 0) {
    const r0 = linear[0];
    console.log(
      `\n(b) 3-step linear workflow (builtin/noop × 3): ${num(r0.runs ?? sizes?.runs)} runs started (4 concurrent callers, workers held), then drained; then ${num(r0.idleRuns ?? sizes?.idleRuns)} runs one at a time; ${times}`,
    );
    table(
      [
        'setup',
        'worker',
        'steps/s',
        'runs started/s',
        'latency p50 ms',
        'p99 ms',
        'max ms',
        'RSS MB',
        'worker RSS MB',
        'status',
      ],
      linear.map((r) => [
        r.setup,
        procs(r),
        num(r.stepsPerSec),
        num(r.startRunsPerSec),
        ms(r.p50Ms),
        ms(r.p99Ms),
        ms(r.maxMs),
        ...rss(r),
        r.status,
      ]),
      2,
    );
    console.log(
      '  steps/s: 3 × runs / (first handler start → the store shows every run completed); runs started/s: engine.startRun calls, workers held;',
    );
    console.log(
      '  latency: trigger → completion of each one-at-a-time run, from its row (completed_at − started_at, 1 ms resolution)',
    );
  }

  const fanout = of('fanout');
  if (fanout.length > 0) {
    console.log(
      `\n(c) one run: for_each over ${num(fanout[0].items ?? sizes?.items)} items (builtin/noop), then a fan-in step; ${times}`,
    );
    table(
      ['setup', 'worker', 'run seconds', 'items/s', 'startRun ms', 'RSS MB', 'worker RSS MB', 'status'],
      fanout.map((r) => [
        r.setup,
        procs(r),
        typeof r.runSeconds === 'number' && r.status === 'ok' ? r.runSeconds.toFixed(2) : '—',
        num(r.itemsPerSec),
        ms(r.startRunMs),
        ...rss(r),
        r.status,
      ]),
      2,
    );
    console.log(
      '  run seconds: startRun called → the run row reads completed (polled every 5 ms); startRun ms: until startRun returned (the item tasks committed)',
    );
  }

  const latency = of('latency');
  if (latency.length > 0) {
    console.log(
      `\n(d) enqueue-to-start latency at idle: ${num(latency[0].samples ?? sizes?.samples)} single builtin/noop tasks, one at a time, 10–50 ms apart; ${times}`,
    );
    table(
      [
        'setup',
        'worker',
        'p50 ms',
        'p99 ms',
        'max ms',
        'from call p50 ms',
        'p99 ms',
        'RSS MB',
        'worker RSS MB',
        'status',
      ],
      latency.map((r) => [
        r.setup,
        procs(r),
        ms(r.p50Ms),
        ms(r.p99Ms),
        ms(r.maxMs),
        ms(r.callP50Ms),
        ms(r.callP99Ms),
        ...rss(r),
        r.status,
      ]),
      2,
    );
    console.log(
      '  p50/p99: enqueueTasks returned (committed) → the handler starts in the worker; from call: enqueueTasks called → handler start',
    );
  }

  console.log('\nsetups:');
  const seen = new Set();
  for (const r of engineRows) {
    if (seen.has(r.setup)) continue;
    seen.add(r.setup);
    console.log(`  ${r.setup}: ${r.description}`);
  }
}

/**
 * The goals set for Swarm, each next to the figures that answer it. Reported, never enforced.
 * @param {any[]} swarmRows
 * @param {any[]} peers
 * @param {any[]} engineRows
 */
function printTargets(swarmRows, peers, engineRows) {
  /** @type {string[][]} */
  const lines = [];
  const verdict = (/** @type {boolean} */ met) => (met ? 'met' : 'not met');
  const swarmOk = swarmRows.filter((r) => r.status === 'ok');
  const fast = peers.find((p) => p.system === 'graphile-worker' && p.config === 'fast');
  const pgRows = swarmOk.filter((r) => r.backend === 'postgres');
  if (fast && pgRows.length > 0) {
    for (const r of pgRows) {
      const x = r.processPerSec / fast.processPerSec;
      lines.push([
        '(a) PostgreSQL no-op throughput ≥ 1.0× graphile-worker fast',
        r.config,
        `${num(r.processPerSec)} vs ${num(fast.processPerSec)} jobs/s = ${x.toFixed(2)}×`,
        verdict(x >= 1),
      ]);
    }
  }
  for (const r of swarmOk) {
    lines.push([
      '(a) bulk enqueue ≥ 50,000 tasks/s',
      r.config,
      `${num(r.enqueuePerSec)} tasks/s`,
      verdict(r.enqueuePerSec >= 50_000),
    ]);
  }
  const engine = (/** @type {string} */ w, /** @type {(r: any) => boolean} */ where) =>
    engineRows.filter((r) => r.workload === w && r.status === 'ok' && where(r));
  for (const r of engine('linear', (r) => r.backend === 'postgres')) {
    lines.push([
      '(b) 3-step linear ≥ 10,000 steps/s on PostgreSQL',
      r.setup,
      `${num(r.stepsPerSec)} steps/s`,
      verdict(r.stepsPerSec >= 10_000),
    ]);
  }
  for (const r of engine('latency', (r) => r.backend === 'postgres')) {
    lines.push([
      '(d) enqueue-to-start p50 ≤ 5 ms, p99 ≤ 25 ms on PostgreSQL',
      r.setup,
      `p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms`,
      verdict(r.p50Ms <= 5 && r.p99Ms <= 25),
    ]);
  }
  for (const r of engine('latency', (r) => r.backend !== 'postgres')) {
    lines.push([
      '(d) enqueue-to-start p50 ≤ 2 ms on SQLite',
      r.setup,
      `p50 ${r.p50Ms} ms`,
      verdict(r.p50Ms <= 2),
    ]);
  }
  for (const r of engine('fanout', (r) => r.backend !== 'postgres')) {
    const full = r.items >= 10_000;
    lines.push([
      '(c) 10,000-item fan-out in < 5 s on SQLite',
      r.setup,
      `${r.runSeconds.toFixed(2)} s for ${num(r.items)} items`,
      full ? verdict(r.runSeconds < 5) : `n/a (${num(r.items)} items, not 10,000)`,
    ]);
  }
  if (lines.length === 0) return;
  console.log('\ntargets (reported, not enforced):');
  table(['target', 'row', 'measured', 'verdict'], lines, 99);
}
