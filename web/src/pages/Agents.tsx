import { stringify } from 'yaml';
import { get, query } from '../api.js';
import { Sparkline } from '../components/Sparkline.js';
import { useAdminLoad } from '../components/useAdminLoad.js';
import { ago, formatTime } from '../components/admin-format.js';
import type { Route } from '../router.js';
import { href } from '../router.js';
import { duration, percent, type AgentStats, type AgentView, type TrustPoint } from './catalog-types.js';
import './catalog.css';

interface Row {
  readonly agent: AgentView;
  /** The latest version's figures; none for builtins. */
  readonly stats: AgentStats | null;
  readonly versions: number;
}

async function loadRows(): Promise<Row[]> {
  const [agents, stats] = await Promise.all([
    get<{ items: AgentView[] }>('/agents'),
    get<{ items: AgentStats[] }>('/agent-stats'),
  ]);
  return agents.items.map((agent) => {
    const mine = stats.items.filter((s) => s.name === agent.name);
    return {
      agent,
      stats: mine.find((s) => s.version === agent.version) ?? null,
      versions: agent.builtin ? 1 : mine.length,
    };
  });
}

export function AgentsPage({ route }: { route: Route }) {
  const name = route.segments.slice(1).join('/');
  if (name !== '') return <AgentPage key={name} name={name} />;
  return <AgentList />;
}

/** Heartbeat cell: only remote (http) agents send them. */
function heartbeat(stats: AgentStats | null): string {
  if (stats === null || stats.runtimeType !== 'http') return '–';
  return ago(stats.lastSeenAt);
}

function AgentList() {
  const { data, error } = useAdminLoad(loadRows, 'agents', 10_000);
  return (
    <section>
      <h1>Agents</h1>
      {error !== null && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {data === null ? (
        <p className="muted">Loading…</p>
      ) : (
        <table className="table" aria-label="Agents">
          <thead>
            <tr>
              <th>Name</th>
              <th>Version</th>
              <th>Status</th>
              <th>Health</th>
              <th>Trust</th>
              <th>Success rate</th>
              <th>Avg duration</th>
              <th>Versions</th>
              <th>Last heartbeat</th>
            </tr>
          </thead>
          <tbody>
            {data.map(({ agent, stats, versions }) => (
              <tr key={agent.name} data-agent={agent.name}>
                <td>
                  <a href={`#/agents/${agent.name.split('/').map(encodeURIComponent).join('/')}`}>
                    {agent.name}
                  </a>
                  {agent.builtin && <span className="muted"> builtin</span>}
                </td>
                <td>{agent.version}</td>
                <td>
                  <span className={`status status-${agent.status}`}>{agent.status}</span>
                </td>
                <td>{agent.healthScore ?? '–'}</td>
                <td>{agent.trustScore?.toFixed(2) ?? '–'}</td>
                <td>{percent(stats?.successRate)}</td>
                <td>{duration(stats?.avgDurationMs)}</td>
                <td>{versions}</td>
                <td>{heartbeat(stats)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

interface AgentDetail {
  readonly agent: AgentView;
  readonly versions: readonly AgentView[];
  readonly stats: readonly AgentStats[];
  readonly trust: readonly TrustPoint[];
}

async function loadAgent(name: string): Promise<AgentDetail> {
  const path = `/agents/${encodeURIComponent(name)}`;
  const agent = await get<AgentView>(path);
  if (agent.builtin) return { agent, versions: [agent], stats: [], trust: [] };
  const [versions, stats, trust] = await Promise.all([
    get<{ items: AgentView[] }>(`${path}/versions`),
    get<{ items: AgentStats[] }>(`/agent-stats${query({ name })}`),
    get<{ items: TrustPoint[] }>(`${path}/trust-history`),
  ]);
  return { agent, versions: [...versions.items].reverse(), stats: stats.items, trust: trust.items };
}

function AgentPage({ name }: { name: string }) {
  const { data, error } = useAdminLoad(() => loadAgent(name), name, 10_000);
  const agent = data?.agent;
  const latestStats = data?.stats.find((s) => s.version === agent?.version) ?? null;
  return (
    <section className="cat-page">
      <p className="muted">
        <a href={href('agents')}>Agents</a> /
      </p>
      <div className="cat-head">
        <h1>{name}</h1>
        {agent !== undefined && <span className={`status status-${agent.status}`}>{agent.status}</span>}
      </div>
      {error !== null && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {data === null || agent === undefined ? (
        <p className="muted">Loading…</p>
      ) : (
        <>
          <dl className="cat-facts">
            <dt>Latest version</dt>
            <dd>{agent.version}</dd>
            <dt>Trust score</dt>
            <dd>{agent.trustScore?.toFixed(2) ?? '–'}</dd>
            <dt>Health</dt>
            <dd>{agent.healthScore ?? '–'}</dd>
            <dt>Success rate</dt>
            <dd>{percent(latestStats?.successRate)}</dd>
            <dt>Avg duration</dt>
            <dd>{duration(latestStats?.avgDurationMs)}</dd>
            <dt>Runtime</dt>
            <dd>{latestStats?.runtimeType ?? agent.manifest.runtime?.type ?? 'builtin'}</dd>
            {latestStats?.runtimeType === 'http' && (
              <>
                <dt>Last heartbeat</dt>
                <dd title={formatTime(latestStats.lastSeenAt)}>{ago(latestStats.lastSeenAt)}</dd>
              </>
            )}
          </dl>
          {!agent.builtin && (
            <>
              <h2>Trust score history</h2>
              {data.trust.length === 0 ? (
                <p className="muted">No changes yet: the score moves as its tasks finish.</p>
              ) : (
                <Sparkline
                  label={`Trust score of ${name}, ${data.trust.length} changes`}
                  points={[
                    { value: data.trust[0]!.before, label: 'start' },
                    ...data.trust.map((p) => ({
                      value: p.after,
                      label: `${formatTime(p.at)} ${p.version}: ${p.reason ?? p.eventType}`,
                    })),
                  ]}
                />
              )}
            </>
          )}
          <h2>Versions</h2>
          <table className="table" aria-label="Agent versions">
            <thead>
              <tr>
                <th>Version</th>
                <th>Status</th>
                <th>Trust</th>
                <th>Completed</th>
                <th>Failed</th>
                <th>Success rate</th>
                <th>Avg duration</th>
                <th>Registered</th>
              </tr>
            </thead>
            <tbody>
              {data.versions.map((v) => {
                const s = data.stats.find((x) => x.version === v.version);
                return (
                  <tr key={v.version}>
                    <td>{v.version}</td>
                    <td>
                      <span className={`status status-${v.status}`}>{v.status}</span>
                    </td>
                    <td>{v.trustScore?.toFixed(2) ?? '–'}</td>
                    <td>{s?.tasksCompleted ?? '–'}</td>
                    <td>{s?.tasksFailed ?? '–'}</td>
                    <td>{percent(s?.successRate)}</td>
                    <td>{duration(s?.avgDurationMs)}</td>
                    <td>{formatTime(v.createdAt)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <h2>Manifest</h2>
          <pre className="cat-yaml" aria-label="Manifest">
            {stringify(agent.manifest, { lineWidth: 0 })}
          </pre>
        </>
      )}
    </section>
  );
}
