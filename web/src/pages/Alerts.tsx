import { useEffect, useState } from 'react';
import { api, get, query } from '../api.js';
import { errorText, formatTime } from '../components/admin-format.js';
import { useAdminLoad } from '../components/useAdminLoad.js';
import { href } from '../router.js';
import { useCan } from '../session.js';
import './alerts.css';

interface AlertView {
  readonly id: string;
  readonly type: string;
  readonly severity: 'info' | 'warning' | 'critical';
  readonly cause: string;
  readonly title: string;
  readonly message: string | null;
  readonly count: number;
  readonly resolved: boolean;
  readonly resolvedAt: string | null;
  readonly resolvedBy: string | null;
  readonly relatedTaskId: string | null;
  readonly relatedRunId: string | null;
  readonly lastSeenAt: string;
  readonly createdAt: string;
}

interface AlertPage {
  readonly items: AlertView[];
  readonly open: { readonly total: number; readonly critical: number };
}

/** Said when an alert was resolved here, so the badge counts again at once rather than at its next poll. */
const CHANGED = 'swarm:alerts-changed';
const POLL_MS = 5000;

export function AlertsPage() {
  const canResolve = useCan('alerts:write');
  const [showAll, setShowAll] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const { data, error, reload } = useAdminLoad(
    () => get<AlertPage>(`/alerts${query({ limit: 200, resolved: showAll ? undefined : 'false' })}`),
    showAll ? 'all' : 'open',
    POLL_MS,
  );

  async function resolve(id: string) {
    setProblem(null);
    try {
      await api('PATCH', `/alerts/${encodeURIComponent(id)}`, { resolved: true });
      window.dispatchEvent(new Event(CHANGED));
      reload();
    } catch (e) {
      setProblem(errorText(e));
    }
  }

  return (
    <section>
      <h1>Alerts</h1>
      <div className="alerts-toolbar">
        <label>
          <input type="checkbox" checked={showAll} onChange={(e) => setShowAll(e.target.checked)} /> Show
          resolved
        </label>
        {data !== null && <span className="muted">{data.open.total} open</span>}
      </div>
      {(error ?? problem) !== null && (
        <p role="alert" className="error">
          {error ?? problem}
        </p>
      )}
      {data === null ? (
        <p className="muted">Loading…</p>
      ) : data.items.length === 0 ? (
        <p className="muted">{showAll ? 'No alerts yet.' : 'No open alerts.'}</p>
      ) : (
        <table className="table" aria-label="Alerts">
          <thead>
            <tr>
              <th>Severity</th>
              <th>Alert</th>
              <th>Count</th>
              <th>Last seen</th>
              <th>Related</th>
              <th>State</th>
            </tr>
          </thead>
          <tbody>
            {data.items.map((a) => (
              <tr key={a.id} data-alert={a.id}>
                <td>
                  <span className={`status severity-${a.severity}`}>{a.severity}</span>
                </td>
                <td>
                  <div>{a.title}</div>
                  <code className="muted" title={a.message ?? undefined}>
                    {a.cause}
                  </code>
                </td>
                <td aria-label="count">{a.count}</td>
                <td>{formatTime(a.lastSeenAt)}</td>
                <td>
                  {a.relatedRunId !== null && (
                    <a href={href('runs', a.relatedRunId)}>run {a.relatedRunId.slice(0, 8)}…</a>
                  )}
                  {a.relatedRunId === null && a.relatedTaskId !== null && (
                    <a href={href('tasks', a.relatedTaskId)}>task {a.relatedTaskId.slice(0, 8)}…</a>
                  )}
                </td>
                <td>
                  {a.resolved ? (
                    <span className="muted">
                      resolved {a.resolvedBy === 'auto' ? 'automatically' : 'by hand'}{' '}
                      {a.resolvedAt === null ? '' : formatTime(a.resolvedAt)}
                    </span>
                  ) : canResolve ? (
                    <button type="button" onClick={() => void resolve(a.id)}>
                      Resolve
                    </button>
                  ) : (
                    'open'
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** The number of open alerts next to the nav entry: polled, and recounted when one is resolved here. */
export function AlertsBadge() {
  const [open, setOpen] = useState<{ total: number; critical: number } | null>(null);
  useEffect(() => {
    let stopped = false;
    const load = () =>
      get<AlertPage>(`/alerts${query({ limit: 1, resolved: 'false' })}`)
        .then((page) => {
          if (!stopped) setOpen(page.open);
        })
        .catch(() => undefined);
    void load();
    const timer = setInterval(() => void load(), POLL_MS);
    window.addEventListener(CHANGED, load);
    return () => {
      stopped = true;
      clearInterval(timer);
      window.removeEventListener(CHANGED, load);
    };
  }, []);
  if (open === null || open.total === 0) return null;
  return (
    <span
      className={`nav-badge${open.critical > 0 ? ' nav-badge-critical' : ''}`}
      aria-label={`${open.total} open alerts`}
      data-testid="alerts-badge"
    >
      {open.total}
    </span>
  );
}
