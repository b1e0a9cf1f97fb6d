import { useCallback, useEffect, useState } from 'react';
import { get, query } from '../api.js';
import { BarChart } from '../components/charts/BarChart.js';
import { LineChart } from '../components/charts/LineChart.js';
import { formatDuration } from '../dag/timeline.js';
import type { Route } from '../router.js';
import { navigate } from '../router.js';
import './overview.css';

interface Figures {
  readonly runsStarted: number;
  readonly runsCompleted: number;
  readonly runsFailed: number;
  readonly runsCancelled: number;
  readonly successRate: number | null;
  readonly durationP50Ms: number | null;
  readonly durationP95Ms: number | null;
  readonly steps: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly tokens: number;
  readonly cost: number;
}

interface Overview {
  readonly since: string;
  readonly until: string;
  readonly bucketSeconds: number;
  readonly buckets: (Figures & { readonly start: string; readonly stepsPerMinute: number })[];
  readonly totals: Figures;
  readonly queueDepth: { status: string; priority: number; count: number }[];
  readonly activeWorkers: number;
  readonly truncated: boolean;
}

/** The ranges offered, and the bucket width of each (about 60 bars). */
const RANGES = { '1h': 60, '24h': 1800, '7d': 3 * 3600 } as const;
type Range = keyof typeof RANGES;
const REFRESH_MS = 5000;

const percent = (v: number | null) => (v === null ? '–' : `${Math.round(v * 1000) / 10}%`);
const ms = (v: number | null) => (v === null ? '–' : formatDuration(v));
const money = (v: number) => (v === 0 ? '0' : v < 0.01 ? v.toFixed(4) : v.toFixed(2));

/** `#/overview?range=24h`: the caller's runs, steps, durations, tokens and cost over time; the queue now. */
export function OverviewPage({ route }: { route: Route }) {
  const asked = route.params.get('range');
  const range: Range = asked !== null && asked in RANGES ? (asked as Range) : '1h';
  const [data, setData] = useState<Overview | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      setData(await get<Overview>(`/metrics/overview${query({ since: range, bucket: RANGES[range] })}`));
      setError(null);
    } catch (e) {
      setError((e as Error).message);
    }
  }, [range]);

  useEffect(() => {
    void load();
    // Live: the figures of the range as they come in.
    const timer = setInterval(() => void load(), REFRESH_MS);
    return () => clearInterval(timer);
  }, [load]);

  const times = data?.buckets.map((b) => b.start) ?? [];
  const withDate = range !== '1h';
  const column = <K extends keyof Overview['buckets'][number]>(key: K) =>
    data?.buckets.map((b) => b[key] as number | null) ?? [];
  const depth = (status: string) =>
    data?.queueDepth.filter((d) => d.status === status).reduce((n, d) => n + d.count, 0) ?? 0;
  const t = data?.totals;
  const minutes = data === null ? 1 : (Date.parse(data.until) - Date.parse(data.since)) / 60_000;

  return (
    <section className="overview">
      <div className="toolbar">
        <h1>Overview</h1>
        <div className="range" role="group" aria-label="Time range">
          {(Object.keys(RANGES) as Range[]).map((r) => (
            <button
              key={r}
              type="button"
              className={r === range ? 'selected' : ''}
              aria-pressed={r === range}
              onClick={() => navigate(`/overview${query({ range: r })}`)}
            >
              {r}
            </button>
          ))}
        </div>
      </div>
      {error !== null && <p className="error">{error}</p>}
      {data?.truncated && <p className="muted">Only the newest records of this range are counted.</p>}
      <div className="stats">
        <Stat id="runs-started" label="Runs started" value={t?.runsStarted} />
        <Stat id="runs-completed" label="Completed" value={t?.runsCompleted} tone="ok" />
        <Stat
          id="runs-failed"
          label="Failed"
          value={t?.runsFailed}
          tone={t?.runsFailed ? 'bad' : undefined}
        />
        <Stat
          id="success-rate"
          label="Success rate"
          value={t === undefined ? undefined : percent(t.successRate)}
        />
        <Stat
          id="duration-p50"
          label="Duration p50"
          value={t === undefined ? undefined : ms(t.durationP50Ms)}
        />
        <Stat
          id="duration-p95"
          label="Duration p95"
          value={t === undefined ? undefined : ms(t.durationP95Ms)}
        />
        <Stat
          id="steps-per-minute"
          label="Steps / min"
          value={t === undefined ? undefined : String(+(t.steps / minutes).toFixed(2))}
        />
        <Stat id="steps" label="Steps" value={t?.steps} />
        <Stat id="queue-pending" label="Queued" value={data === null ? undefined : depth('PENDING')} />
        <Stat
          id="queue-running"
          label="Running"
          value={data === null ? undefined : depth('RUNNING') + depth('ASSIGNED')}
        />
        <Stat id="workers" label="Active workers" value={data?.activeWorkers} />
        <Stat id="tokens" label="Tokens" value={t?.tokens} />
        <Stat id="cost" label="Cost" value={t === undefined ? undefined : money(t.cost)} />
      </div>
      <div className="charts">
        <BarChart
          title="Runs ended"
          times={times}
          withDate={withDate}
          series={[
            { name: 'completed', color: 'var(--ok)', values: column('runsCompleted') },
            { name: 'failed', color: 'var(--bad)', values: column('runsFailed') },
            { name: 'cancelled', color: 'var(--muted)', values: column('runsCancelled') },
          ]}
        />
        <LineChart
          title="Steps per minute"
          times={times}
          withDate={withDate}
          series={[{ name: 'steps/min', color: 'var(--run)', values: column('stepsPerMinute') }]}
        />
        <LineChart
          title="Success rate"
          times={times}
          withDate={withDate}
          format={(v) => `${Math.round(v)}%`}
          series={[
            {
              name: 'success %',
              color: 'var(--ok)',
              values: column('successRate').map((v) => (v === null ? null : v * 100)),
            },
          ]}
        />
        <LineChart
          title="Run duration"
          times={times}
          withDate={withDate}
          format={formatDuration}
          series={[
            { name: 'p50', color: 'var(--accent)', values: column('durationP50Ms') },
            { name: 'p95', color: 'var(--warn)', values: column('durationP95Ms') },
          ]}
        />
        <BarChart
          title="Tokens"
          times={times}
          withDate={withDate}
          series={[
            { name: 'input', color: 'var(--accent)', values: column('inputTokens') },
            { name: 'output', color: 'var(--run)', values: column('outputTokens') },
          ]}
        />
        <LineChart
          title="Cost"
          times={times}
          withDate={withDate}
          format={money}
          series={[{ name: 'cost', color: 'var(--warn)', values: column('cost') }]}
        />
      </div>
    </section>
  );
}

function Stat({
  id,
  label,
  value,
  tone,
}: {
  id: string;
  label: string;
  value: string | number | undefined;
  tone?: 'ok' | 'bad' | undefined;
}) {
  return (
    <div className={`stat${tone === undefined ? '' : ` stat-${tone}`}`} data-testid={`stat-${id}`}>
      <span className="stat-label">{label}</span>
      <span className="stat-value">{value ?? '…'}</span>
    </div>
  );
}
