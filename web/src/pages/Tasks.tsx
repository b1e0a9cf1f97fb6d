import { useState, type FormEvent } from 'react';
import { get, query } from '../api.js';
import { ago, errorText, formatAge, formatTime, shortId } from '../components/admin-format.js';
import { useAdminLoad } from '../components/useAdminLoad.js';
import { href, navigate, type Route } from '../router.js';
import './admin.css';

const STATUSES = [
  'PENDING',
  'ASSIGNED',
  'RUNNING',
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TIMEOUT',
  'SKIPPED',
  'EXPIRED',
] as const;
/** Still in the queue (waiting or held): shown first, the rest are history. */
const LIVE = new Set(['PENDING', 'ASSIGNED', 'RUNNING']);
const PAGE = 50;

interface QueueSummary {
  readonly generatedAt: string;
  readonly depth: Readonly<Record<string, number>>;
  readonly pending: { readonly ready: number; readonly delayed: number; readonly blocked: number };
  readonly oldestWaiting: {
    readonly taskId: string;
    readonly runId: string | null;
    readonly stepId: string | null;
    readonly agent: string | null;
    readonly capability: string | null;
    readonly waitingSince: string;
    readonly ageMs: number;
  } | null;
  readonly workers: readonly {
    readonly workerId: string;
    readonly hostname: string | null;
    readonly pid: number | null;
    readonly lastHeartbeatAt: string | null;
    readonly assignments: readonly {
      readonly taskId: string;
      readonly runId: string | null;
      readonly stepId: string | null;
      readonly agent: string | null;
      readonly taskStatus: string;
      readonly assignedAt: string;
    }[];
  }[];
  readonly assignmentsTruncated: boolean;
}

interface Task {
  readonly id: string;
  readonly agent: string | null;
  readonly capability: string | null;
  readonly type: string;
  readonly status: string;
  readonly priority: number;
  readonly attempts: number;
  readonly max_retries: number;
  readonly is_blocked: boolean;
  readonly error: string | null;
  readonly created_at: string;
  readonly duration_ms: number | null;
}

/** The queue (`GET /queue`, refreshed every 3 s) and the standalone tasks, filtered and paged. */
export function TasksPage({ route }: { route: Route }) {
  const summary = useAdminLoad(() => get<QueueSummary>('/queue'), 'queue', 3000);
  return (
    <section className="admin">
      <h1>Tasks and queue</h1>
      {summary.error !== null && (
        <p role="alert" className="error">
          {summary.error}
        </p>
      )}
      {summary.data === null ? <p className="muted">Loading…</p> : <QueueView summary={summary.data} />}
      <FlowKeys />
      <TaskList route={route} />
    </section>
  );
}

interface FlowKey {
  readonly key: string;
  readonly kind: 'concurrency' | 'rate';
  readonly scope: string;
  readonly namespace: readonly string[];
  readonly value: string;
  readonly limit: number | null;
  readonly rateLimit: number | null;
  readonly periodMs: number | null;
  readonly running: number;
  readonly recentStarts: number;
  readonly waiting: number;
}

/** Flow control (`GET /queue/keys`): each key's limit, what runs under it and what waits. */
function FlowKeys() {
  const keys = useAdminLoad(
    () => get<{ keys: FlowKey[]; truncated: boolean }>('/queue/keys'),
    'queue-keys',
    3000,
  );
  if (keys.data === null || keys.data.keys.length === 0) return null;
  return (
    <>
      <h2>Flow control</h2>
      <table className="table" aria-label="Flow control">
        <thead>
          <tr>
            <th>Key</th>
            <th>Scope</th>
            <th>Limit</th>
            <th>Running</th>
            <th>Waiting</th>
          </tr>
        </thead>
        <tbody>
          {keys.data.keys.map((k) => (
            <tr key={k.key}>
              <td>
                {[...k.namespace, k.value === '' ? '(all)' : k.value].map((part, i) => (
                  <span key={i}>
                    {i > 0 && ' / '}
                    <code>{part}</code>
                  </span>
                ))}
              </td>
              <td>{k.scope}</td>
              <td>
                {k.kind === 'rate'
                  ? `${k.rateLimit ?? '–'} per ${formatAge(k.periodMs ?? 0)}`
                  : `${k.limit ?? '–'} at once`}
              </td>
              <td>{k.kind === 'rate' ? `${k.recentStarts} started` : k.running}</td>
              <td>{k.waiting}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {keys.data.truncated && (
        <p className="muted">Only 500 keys are shown: those with running or waiting tasks first.</p>
      )}
    </>
  );
}

function runLink(runId: string | null, stepId: string | null) {
  if (runId === null) return <span className="muted">standalone</span>;
  return (
    <a href={href('runs', runId)}>
      run {shortId(runId)}
      {stepId === null ? '' : ` · ${stepId}`}
    </a>
  );
}

function QueueView({ summary }: { summary: QueueSummary }) {
  const oldest = summary.oldestWaiting;
  const active = summary.workers.length;
  return (
    <>
      <div className="admin-stats" aria-label="Queue depth">
        {STATUSES.filter((s) => LIVE.has(s) || (summary.depth[s] ?? 0) > 0).map((s) => (
          <div key={s} className="card admin-stat">
            <div className="admin-stat-value">{summary.depth[s] ?? 0}</div>
            <div className={`status status-${s.toLowerCase()}`}>{s.toLowerCase()}</div>
          </div>
        ))}
        <div className="card admin-stat">
          <div className="admin-stat-value">{oldest === null ? '–' : formatAge(oldest.ageMs)}</div>
          <div className="muted">oldest waiting</div>
        </div>
        <div className="card admin-stat">
          <div className="admin-stat-value">{active}</div>
          <div className="muted">active worker{active === 1 ? '' : 's'}</div>
        </div>
      </div>
      <p className="muted">
        Pending: {summary.pending.ready} ready, {summary.pending.delayed} delayed (back-off or scheduled),{' '}
        {summary.pending.blocked} waiting for dependencies.
        {oldest !== null && (
          <>
            {' '}
            Oldest ready: <code>{shortId(oldest.taskId)}</code> {oldest.agent ?? oldest.capability ?? ''} (
            {runLink(oldest.runId, oldest.stepId)}), since {formatTime(oldest.waitingSince)}.
          </>
        )}
      </p>
      <h2>Workers</h2>
      {summary.workers.length === 0 ? (
        <p className="muted">No worker holds one of your tasks right now.</p>
      ) : (
        <table className="table" aria-label="Workers">
          <thead>
            <tr>
              <th>Worker</th>
              <th>Host</th>
              <th>Heartbeat</th>
              <th>Holding</th>
            </tr>
          </thead>
          <tbody>
            {summary.workers.map((w) => (
              <tr key={w.workerId}>
                <td>
                  <code>{w.workerId}</code>
                </td>
                <td>
                  {w.hostname ?? '–'}
                  {w.pid === null ? '' : ` (pid ${w.pid})`}
                </td>
                <td>{ago(w.lastHeartbeatAt)}</td>
                <td>
                  <ul className="admin-list">
                    {w.assignments.map((a) => (
                      <li key={a.taskId}>
                        <code>{shortId(a.taskId)}</code> {a.agent ?? ''}{' '}
                        <span className={`status status-${a.taskStatus.toLowerCase()}`}>
                          {a.taskStatus.toLowerCase()}
                        </span>{' '}
                        {runLink(a.runId, a.stepId)} <span className="muted">since {ago(a.assignedAt)}</span>
                      </li>
                    ))}
                  </ul>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {summary.assignmentsTruncated && <p className="muted">More tasks are held than listed here.</p>}
    </>
  );
}

/** Standalone tasks; the filters live in the URL (`#/tasks?status=FAILED&agent=echo`). */
function TaskList({ route }: { route: Route }) {
  const status = route.params.get('status') ?? '';
  const agent = route.params.get('agent') ?? '';
  const [draftAgent, setDraftAgent] = useState(agent);
  const [extra, setExtra] = useState<{ key: string; items: Task[]; done: boolean }>({
    key: '',
    items: [],
    done: false,
  });
  const [error, setError] = useState<string | null>(null);
  const key = `${status}|${agent}`;
  const first = useAdminLoad(
    () => get<{ items: Task[] }>(`/tasks${query({ status, agent, limit: PAGE })}`),
    key,
  );
  // Pages loaded with "Load more" belong to one filter: another filter starts over.
  const more = extra.key === key ? extra : { key, items: [], done: false };
  const tasks = first.data === null ? null : [...first.data.items, ...more.items];
  const exhausted = first.data !== null && (first.data.items.length < PAGE || more.done);

  function filter(next: { status?: string; agent?: string }) {
    navigate(`/tasks${query({ status, agent, ...next })}`);
  }

  async function loadMore() {
    const last = tasks?.[tasks.length - 1];
    if (last === undefined) return;
    try {
      const page = await get<{ items: Task[] }>(
        `/tasks${query({ status, agent, limit: PAGE, before: last.id })}`,
      );
      setExtra({ key, items: [...more.items, ...page.items], done: page.items.length < PAGE });
      setError(null);
    } catch (e) {
      setError(errorText(e));
    }
  }

  function submitAgent(event: FormEvent) {
    event.preventDefault();
    filter({ agent: draftAgent.trim() });
  }

  return (
    <>
      <h2>Standalone tasks</h2>
      <form className="toolbar" aria-label="Filter tasks" onSubmit={submitAgent}>
        <label>
          Status
          <select value={status} onChange={(e) => filter({ status: e.target.value })}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Agent
          <input
            value={draftAgent}
            placeholder="name or name@version"
            onChange={(e) => setDraftAgent(e.target.value)}
          />
        </label>
        <button type="submit" className="secondary">
          Filter
        </button>
      </form>
      {(error ?? first.error) !== null && (
        <p role="alert" className="error">
          {error ?? first.error}
        </p>
      )}
      {tasks === null ? (
        <p className="muted">Loading…</p>
      ) : tasks.length === 0 ? (
        <p className="muted">No tasks{status !== '' || agent !== '' ? ' match' : ' yet'}.</p>
      ) : (
        <table className="table" aria-label="Tasks">
          <thead>
            <tr>
              <th>Task</th>
              <th>Agent</th>
              <th>Type</th>
              <th>Status</th>
              <th>Priority</th>
              <th>Attempts</th>
              <th>Created</th>
              <th>Duration</th>
            </tr>
          </thead>
          <tbody>
            {tasks.map((t) => (
              <tr key={t.id}>
                <td>
                  <code title={t.id}>{shortId(t.id)}</code>
                </td>
                <td>{t.agent ?? <span className="muted">{t.capability}</span>}</td>
                <td>{t.type}</td>
                <td>
                  <span className={`status status-${t.status.toLowerCase()}`} title={t.error ?? undefined}>
                    {t.status.toLowerCase()}
                    {t.is_blocked ? ' (blocked)' : ''}
                  </span>
                </td>
                <td>{t.priority}</td>
                <td>
                  {t.attempts}/{t.max_retries + 1}
                </td>
                <td>{formatTime(t.created_at)}</td>
                <td>{t.duration_ms === null ? '–' : `${t.duration_ms} ms`}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {!exhausted && tasks !== null && tasks.length > 0 && (
        <p>
          <button type="button" className="secondary" onClick={() => void loadMore()}>
            Load more
          </button>
        </p>
      )}
    </>
  );
}
