// The table printed at the end of `npm run bench`.

/** @param {number | undefined} n */
const num = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : '—');

/**
 * @param {any} report  as written to bench/results/*.json
 * @param {{ swarmPresent: boolean }} opts
 */
export function printReport(report, { swarmPresent }) {
  const { rows, limit, machine } = report;
  // Ratios are Swarm's best PostgreSQL row over each peer row: the comparison issue 5 asks for.
  const swarmRows = rows.filter((/** @type {any} */ r) => r.system === 'swarm' && r.status === 'ok');
  const base =
    swarmRows
      .filter((/** @type {any} */ r) => r.backend === 'postgres')
      .sort((/** @type {any} */ a, /** @type {any} */ b) => b.processPerSec - a.processPerSec)[0] ?? null;
  const ratio = (/** @type {number | undefined} */ ours, /** @type {number | undefined} */ theirs) =>
    ours && theirs ? `${(ours / theirs).toFixed(2)}×` : '—';

  const header = ['system', 'config', 'enqueue jobs/s', 'process jobs/s', 'peak RSS MB'];
  if (base) header.push('swarm/this enqueue', 'swarm/this process');
  header.push('status');
  const body = rows.map((/** @type {any} */ r) => {
    const cells = [
      `${r.system} ${r.version}`,
      r.config,
      num(r.enqueuePerSec),
      num(r.processPerSec),
      num(r.peakRssMb),
    ];
    if (base) {
      // Only peers get a ratio; Swarm's other rows (SQLite, more workers) stand on their own.
      const peer = r.system !== 'swarm' && r.status === 'ok';
      cells.push(
        r === base ? 'baseline' : peer ? ratio(base.enqueuePerSec, r.enqueuePerSec) : '—',
        r === base ? 'baseline' : peer ? ratio(base.processPerSec, r.processPerSec) : '—',
      );
    }
    cells.push(r.status);
    return cells;
  });
  const widths = header.map((h, i) =>
    Math.max(h.length, ...body.map((/** @type {string[]} */ c) => String(c[i]).length)),
  );
  const line = (/** @type {string[]} */ cells) =>
    cells
      // Names left-aligned, figures right-aligned, the last column (status) unpadded.
      .map((c, i) =>
        i === cells.length - 1
          ? String(c)
          : i >= 2
            ? String(c).padStart(widths[i] ?? 0)
            : String(c).padEnd(widths[i] ?? 0),
      )
      .join('  ');

  console.log(
    `\n${report.jobs.toLocaleString('en-US')} no-op jobs per row, bulk-enqueued in batches of ${report.batchSize}`,
  );
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const cells of body) console.log(line(cells));

  console.log('\nconfigs:');
  for (const r of rows) console.log(`  ${r.system} (${r.config}): ${r.description}`);
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
  if (!swarmPresent) {
    console.log(
      '\nSwarm: its own queue is measured once its worker lands (issue 5); the swarm/this ratio columns appear then (bench/systems/swarm.mjs).',
    );
  }
  console.log(
    `\nmachine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGb} GB, ${machine.os}, node ${machine.node}, ` +
      `PostgreSQL ${machine.postgres ?? '—'} (fsync ${machine.postgresSettings?.fsync ?? '—'}, synchronous_commit ${machine.postgresSettings?.synchronous_commit ?? '—'}), ` +
      `Redis ${machine.redis ?? '—'}, ${machine.date}`,
  );
}
