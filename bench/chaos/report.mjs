// The chaos run's summary: what was sent, what was done to the cluster, what the checker found.
import os from 'node:os';
import { percentile } from './checker.mjs';
import { acceptedAnswer } from './workload.mjs';

const ms = (/** @type {number | null} */ v) => (v === null ? '—' : `${Math.round(v)} ms`);

/** @param {Array<Array<string | number>>} rows  first row: header */
function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i] ?? '').length)));
  const line = (r) =>
    r
      .map((c, i) => String(c ?? '').padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

/** @param {Record<string, number>} counts */
const statuses = (counts) =>
  Object.entries(counts)
    .sort()
    .map(([s, n]) => `${s === '0' ? 'no answer' : s}: ${n}`)
    .join(', ');

/**
 * Prints the report and returns it as data (also written to bench/results/) with `ok`.
 * @param {object} r
 */
export function printReport(r) {
  const { history, result, faults, crashes } = r;
  const apiStatus = {};
  for (const op of history.api) apiStatus[op.status] = (apiStatus[op.status] ?? 0) + 1;
  const originals = history.hooks.filter((h) => !h.resend);
  const hookStatus = {};
  let attempts = 0;
  for (const h of history.hooks)
    for (const a of h.answers) {
      attempts++;
      hookStatus[a.status] = (hookStatus[a.status] ?? 0) + 1;
    }
  const hooksAccepted = originals.filter((h) => acceptedAnswer(h) !== null).length;
  const hooksRetried = originals.filter((h) => h.answers.length > 1).length;
  const count = (type) => faults.filter((f) => f.type === type && !f.skipped && !f.error).length;
  const skipped = (type) => {
    const n = faults.filter((f) => f.type === type && f.skipped).length;
    return n === 0 ? '' : `; ${n} skipped: it would have left no worker running`;
  };
  const pg = faults.filter((f) => f.type === 'pg-restart' && f.tookMs !== undefined);
  const srv = faults.filter((f) => f.type === 'server-kill' && f.restartedAt !== undefined);
  const kills = faults.filter((f) => f.type === 'kill' && f.restartedAt !== undefined);

  const failureReasons = new Map();
  for (const f of result.failed) {
    const tag =
      { faults: '[explained by the faults] ', machine: '[explained by machine stalls] ' }[f.cause] ?? '';
    const reason = `${tag}${f.status} at ${f.step ?? '?'}: ${f.error ?? ''}`;
    failureReasons.set(reason, [...(failureReasons.get(reason) ?? []), f.runId]);
  }

  const verdicts = [
    ['lost runs (accepted, not in the database)', result.lost.length],
    [
      '  of which webhook 2xx without its run',
      result.lost.filter((l) => l.what.startsWith('webhook')).length,
    ],
    ['duplicated runs (one request, several runs)', result.duplicatedRuns.length],
    ['duplicated steps (a step or item recorded twice)', result.duplicatedSteps.length],
    ['stuck runs (not finished after the drain)', result.stuck.length],
    [
      'failed runs, unexplained (none may fail here otherwise)',
      result.failed.filter((f) => f.cause === null).length,
    ],
    [
      '  failed runs explained by the faults (every lease lost to a kill, stall or restart)',
      result.failed.filter((f) => f.cause === 'faults').length,
    ],
    [
      '  failed runs explained by machine stalls (a lease lost while the whole machine stalled)',
      result.failed.filter((f) => f.cause === 'machine').length,
    ],
    ['wrong outputs (a step output not what its input implies)', result.wrongOutput.length],
    ['mismatched webhook answers (a resend named another run)', result.mismatched.length],
    ['phantom runs (no client sent them)', result.phantom.length],
    ['crashed Swarm processes', crashes.length],
  ];
  if (result.flow)
    verdicts.push([
      'concurrency limits exceeded (a key with more slots certainly held at once than its limit)',
      result.flow.violations.length,
    ]);
  // 503 is what Swarm answers while the database is away (retryable); any other 5xx is an error
  // it did not expect: a defect, whatever the faults.
  const unexpected5xx = [
    ...history.api
      .filter((o) => o.status >= 500 && o.status !== 503)
      .map((o) => ({ api: o.key, status: o.status, error: o.error })),
    ...history.hooks.flatMap((h) =>
      h.answers
        .filter((a) => a.status >= 500 && a.status !== 503)
        .map((a) => ({ hook: h.key, status: a.status, error: a.error })),
    ),
  ];
  verdicts.push(['unexpected 5xx answers (other than 503 while the database is away)', unexpected5xx.length]);
  const ok = verdicts.every(([label, n]) => label.startsWith('  ') || n === 0);

  console.log(
    `\nSwarm chaos — seed ${r.seed}, ${r.minutes} min of load, ${r.workers} workers, lease ${r.leaseMs} ms, ${r.rate} runs/s offered`,
  );
  console.log(`${os.cpus()[0]?.model.trim()}, ${os.cpus().length} cores, ${new Date().toISOString()}\n`);
  console.log(
    table([
      ['workload', 'count', 'detail'],
      ['API run starts', history.api.length, statuses(apiStatus)],
      [
        'webhook deliveries',
        originals.length,
        `${hooksAccepted} accepted, ${hooksRetried} needed retries; ${attempts} attempts (${statuses(hookStatus)})`,
      ],
      ['deliberate resends', history.hooks.length - originals.length, 'each must name the first run'],
      [
        'runs Swarm promised',
        result.promised,
        `+ indeterminate: ${result.indeterminate.api} API errors (${result.indeterminate.apiWithRun} did start a run), ${result.indeterminate.hooks} undelivered webhooks (${result.indeterminate.hooksWithRun} did)`,
      ],
      [
        'steps and items',
        result.tasks,
        `${statuses(result.taskStatuses)}; ${result.leaseLostTasks} lost a lease at least once, ${result.retriedTasks} used a retry`,
      ],
      [
        'drain after the load',
        `${(r.drainedMs / 1000).toFixed(1)} s`,
        `clients throttled ${r.throttledSeconds.toFixed(0)} s by the backlog limit`,
      ],
    ]),
  );
  console.log(
    `\n${table([
      ['fault', 'count', 'detail'],
      [
        'worker kill -9',
        count('kill'),
        `restarted after ${ms(
          percentile(
            kills.map((k) => k.restartedAt - k.at),
            50,
          ),
        )} (p50)${skipped('kill')}`,
      ],
      ['worker SIGSTOP past the lease', count('stall'), `then SIGCONT${skipped('stall')}`],
      ['PostgreSQL restart', count('pg-restart'), pg.map((p) => `${p.tookMs} ms`).join(', ')],
      [
        'server kill -9 during webhooks',
        count('server-kill'),
        srv.map((s) => `down ${s.restartedAt - s.at} ms`).join(', '),
      ],
      [
        'machine stalls (this process frozen ≥ 2 s)',
        r.machineStalls.length,
        r.machineStalls.length === 0
          ? ''
          : `longest ${ms(Math.max(...r.machineStalls.map((m) => m.to - m.at)))}, ${ms(r.machineStalls.reduce((t, m) => t + m.to - m.at, 0))} in all: the machine was overloaded`,
      ],
      [
        'faults that failed',
        faults.filter((f) => f.error).length,
        faults
          .filter((f) => f.error)
          .map((f) => `${f.type}: ${f.error}`)
          .join('; '),
      ],
    ])}`,
  );
  const rc = result.reclaim;
  console.log(
    `\n${table([
      ['re-claim latency (fault → next claim)', 'tasks', 'p50', 'p95', 'max', 'never re-claimed'],
      [
        'after kill -9',
        rc.kill.tasks,
        ms(rc.kill.p50),
        ms(rc.kill.p95),
        ms(rc.kill.max),
        rc.kill.notReclaimed,
      ],
      [
        'after SIGSTOP',
        rc.stall.tasks,
        ms(rc.stall.p50),
        ms(rc.stall.p95),
        ms(rc.stall.max),
        rc.stall.notReclaimed,
      ],
      ['all', rc.all.tasks, ms(rc.all.p50), ms(rc.all.p95), ms(rc.all.max), ''],
    ])}`,
  );
  if (result.flow) {
    const keys = Object.entries(result.flow.keys).sort(([a], [b]) => (a < b ? -1 : 1));
    console.log(
      `\n${table([
        [
          'concurrency key (--flow)',
          'limit',
          'tasks',
          'most certainly held at once',
          'most recorded at once',
        ],
        ...keys.map(([k, v]) => [
          JSON.parse(k).slice(3).join(' '),
          v.limit,
          v.tasks,
          v.maxHeld,
          v.maxRecorded,
        ]),
      ])}`,
    );
    console.log(
      `(${result.flow.checkedTasks} tasks with a recorded attempt; held: completed_at - duration_ms … completed_at, which the slot certainly covered; recorded: started_at … completed_at, stamped before the claim's and the completion's transactions, so no proof)`,
    );
  }
  console.log(`\n${table([['check', 'found'], ...verdicts])}`);

  const examples = (title, list) => {
    if (list.length === 0) return;
    console.log(`\n${title} (${list.length}; first 5):`);
    for (const item of list.slice(0, 5)) console.log(`  ${JSON.stringify(item)}`);
  };
  if (failureReasons.size > 0) {
    console.log('\nfailed runs by reason:');
    for (const [reason, ids] of [...failureReasons].sort((a, b) => b[1].length - a[1].length))
      console.log(`  ${String(ids.length).padStart(5)} × ${reason}  (e.g. ${ids.slice(0, 2).join(', ')})`);
  }
  examples('lost', result.lost);
  examples('duplicated runs', result.duplicatedRuns);
  examples('duplicated steps', result.duplicatedSteps);
  examples('stuck', result.stuck);
  examples('wrong outputs', result.wrongOutput);
  examples('mismatched', result.mismatched);
  examples('phantom', result.phantom);
  examples('unexpected 5xx', unexpected5xx);
  examples('concurrency limits exceeded', result.flow?.violations ?? []);
  for (const c of crashes) console.log(`\n${c.process} (pid ${c.pid}) crashed: ${c.end}\n${c.log}`);
  console.log(
    `\n${ok ? 'OK' : 'FAILED'}: ${
      verdicts
        .filter(([l, n]) => !l.startsWith('  ') && n > 0)
        .map(([l, n]) => `${n} ${l.split(' (')[0]}`)
        .join(', ') || 'no anomaly'
    } (${(r.elapsedMs / 60000).toFixed(1)} min in all)`,
  );

  return {
    ok,
    date: new Date().toISOString(),
    machine: { cpu: os.cpus()[0]?.model.trim(), cores: os.cpus().length, node: process.version },
    seed: r.seed,
    minutes: r.minutes,
    workers: r.workers,
    leaseMs: r.leaseMs,
    rate: r.rate,
    api: { requests: history.api.length, statuses: apiStatus },
    webhooks: {
      deliveries: originals.length,
      accepted: hooksAccepted,
      retried: hooksRetried,
      attempts,
      statuses: hookStatus,
    },
    machineStalls: r.machineStalls.map((m) => m.to - m.at),
    faults: {
      kills: count('kill'),
      stalls: count('stall'),
      pgRestarts: pg.map((p) => p.tookMs),
      serverKills: srv.map((s) => s.restartedAt - s.at),
    },
    checks: Object.fromEntries(verdicts.map(([l, n]) => [l.trim(), n])),
    promised: result.promised,
    tasks: result.tasks,
    retriedTasks: result.retriedTasks,
    leaseLostTasks: result.leaseLostTasks,
    indeterminate: result.indeterminate,
    reclaim: result.reclaim,
    flow: result.flow,
    failedByReason: Object.fromEntries([...failureReasons].map(([k, v]) => [k, v.length])),
    drainedMs: r.drainedMs,
    examples: {
      lost: result.lost.slice(0, 20),
      duplicatedRuns: result.duplicatedRuns.slice(0, 20),
      duplicatedSteps: result.duplicatedSteps.slice(0, 20),
      stuck: result.stuck.slice(0, 20),
      wrongOutput: result.wrongOutput.slice(0, 20),
      unexpected5xx: unexpected5xx.slice(0, 20),
    },
    crashes,
  };
}
