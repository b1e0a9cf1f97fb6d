import { useState } from 'react';
import { get, query } from '../api.js';
import { useAdminLoad } from '../components/useAdminLoad.js';
import { errorText, formatTime } from '../components/admin-format.js';
import { formatDuration } from '../dag/timeline.js';
import { href, navigate, type Route } from '../router.js';
import './catalog.css';

/** GET /api/v1/history's entries (docs/retention.md). */
interface HistoryEntry {
  readonly runId: string;
  readonly workflow: string | null;
  readonly version: string | null;
  readonly status: string;
  readonly durationMs: number | null;
  readonly completedAt: string | null;
  readonly archivedAt: string;
  readonly metrics: { readonly steps?: number; readonly tokens?: number; readonly cost?: number } | null;
}

interface HistoryPage {
  readonly items: HistoryEntry[];
  readonly next: string | null;
}

const STATUSES = ['completed', 'failed', 'timeout', 'cancelled'];

/**
 * The archive of finished runs, read-only: kept after the retention policy prunes their rows;
 * a run's link still opens it (the run API answers from the archive).
 */
export function HistoryPage({ route }: { route: Route }) {
  const workflow = route.params.get('workflow') ?? '';
  const status = route.params.get('status') ?? '';
  const filter = query({ workflow, status });
  const first = useAdminLoad(() => get<HistoryPage>(`/history${filter}`), filter);
  const [more, setMore] = useState<{ key: string; items: HistoryEntry[]; next: string | null } | null>(null);
  const [moreError, setMoreError] = useState<string | null>(null);
  const extra = more?.key === filter ? more : null;
  const items = [...(first.data?.items ?? []), ...(extra?.items ?? [])];
  const next = extra === null ? (first.data?.next ?? null) : extra.next;

  async function loadMore() {
    if (next === null) return;
    try {
      const page = await get<HistoryPage>(`/history${query({ workflow, status, cursor: next })}`);
      setMore({ key: filter, items: [...(extra?.items ?? []), ...page.items], next: page.next });
      setMoreError(null);
    } catch (e) {
      setMoreError(errorText(e));
    }
  }

  const setFilter = (name: string, value: string) =>
    navigate(`/history${query({ workflow, status, [name]: value })}`);
  const error = first.error ?? moreError;
  return (
    <section>
      <h1>History</h1>
      <p className="muted">Finished runs, archived: readable after their runs' rows are pruned.</p>
      <div className="toolbar">
        <label>
          Workflow
          <input
            defaultValue={workflow}
            onKeyDown={(e) => {
              if (e.key === 'Enter') setFilter('workflow', e.currentTarget.value.trim());
            }}
            onBlur={(e) => setFilter('workflow', e.currentTarget.value.trim())}
          />
        </label>
        <label>
          Status
          <select value={status} onChange={(e) => setFilter('status', e.target.value)}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
      </div>
      {error !== null && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {first.data === null ? (
        <p className="muted">Loading…</p>
      ) : items.length === 0 ? (
        <p className="muted">No archived runs{filter === '' ? ' yet' : ' match'}.</p>
      ) : (
        <table className="table" aria-label="Archived runs">
          <thead>
            <tr>
              <th>Run</th>
              <th>Workflow</th>
              <th>Status</th>
              <th>Duration</th>
              <th>Steps</th>
              <th>Finished</th>
            </tr>
          </thead>
          <tbody>
            {items.map((entry) => (
              <tr key={entry.runId} data-run={entry.runId}>
                <td>
                  <a href={href('runs', entry.runId)}>{entry.runId}</a>
                </td>
                <td>
                  {entry.workflow ?? '–'}
                  {entry.version !== null && <span className="muted">@{entry.version}</span>}
                </td>
                <td>
                  <span className={`status status-${entry.status}`}>{entry.status}</span>
                </td>
                <td>{entry.durationMs === null ? '–' : formatDuration(entry.durationMs)}</td>
                <td>{entry.metrics?.steps ?? '–'}</td>
                <td>{formatTime(entry.completedAt ?? entry.archivedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {next !== null && (
        <button type="button" className="secondary" onClick={() => void loadMore()}>
          More
        </button>
      )}
    </section>
  );
}
