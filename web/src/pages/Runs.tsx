import { useCallback, useEffect, useRef, useState } from 'react';
import { get, query } from '../api.js';
import { VirtualRows } from '../components/VirtualRows.js';
import { formatDuration } from '../dag/timeline.js';
import type { Route } from '../router.js';
import { href, navigate } from '../router.js';
import { useCan } from '../session.js';
import { RunPage } from './RunPage.js';
import './runs.css';

export interface RunSummary {
  readonly id: string;
  readonly workflow: string;
  readonly version: string;
  readonly status: string;
  readonly startedAt: string | null;
  readonly completedAt: string | null;
  readonly durationMs: number | null;
  readonly error: string | null;
  readonly trigger?: { readonly type: string };
  /** Set under workflow concurrency: a pending run with a key waits for a slot. */
  readonly concurrencyKey?: string | null;
}

interface Page {
  readonly items: RunSummary[];
  readonly next: string | null;
}

const STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled', 'timeout'];
const TRIGGERS = ['manual', 'webhook', 'schedule', 'event'];
/** The `since` choices: how far back, in milliseconds. */
const SINCE: Record<string, number> = {
  '1h': 3_600_000,
  '24h': 86_400_000,
  '7d': 604_800_000,
  '30d': 2_592_000_000,
};
const PAGE = 100;
const ROW_HEIGHT = 34;

/** `#/runs` lists runs; `#/runs/<id>` is one run. */
export function RunsPage({ route }: { route: Route }) {
  const id = route.segments[1];
  // Keyed by the run: following a link to another run (a fork, a parent) starts the page afresh.
  if (id !== undefined) return <RunPage key={id} id={id} />;
  return <RunsList route={route} />;
}

/** The filters live in the URL (`#/runs?status=failed&q=…`), so a filtered list can be shared. */
function useFilters(route: Route) {
  const filters = {
    workflow: route.params.get('workflow') ?? '',
    status: route.params.get('status') ?? '',
    triggerType: route.params.get('triggerType') ?? '',
    since: route.params.get('since') ?? '',
    q: route.params.get('q') ?? '',
  };
  const set = (name: keyof typeof filters, value: string) =>
    navigate(`/runs${query({ ...filters, [name]: value })}`);
  return { filters, set };
}

function RunsList({ route }: { route: Route }) {
  const { filters, set } = useFilters(route);
  const [runs, setRuns] = useState<RunSummary[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const [text, setText] = useState(filters.q);
  const [workflows, setWorkflows] = useState<string[]>([]);
  const canReadWorkflows = useCan('workflows:read');
  // The cursor of the page after those loaded: kept across polls, which only refresh the first page.
  const nextRef = useRef<string | null>(null);
  const filterKey = JSON.stringify(filters);

  const params = useCallback(
    (cursor?: string) => {
      const back = SINCE[filters.since];
      return query({
        workflow: filters.workflow,
        status: filters.status,
        triggerType: filters.triggerType,
        q: filters.q,
        since: back === undefined ? undefined : new Date(Date.now() - back).toISOString(),
        limit: PAGE,
        cursor,
      });
    },
    [filterKey],
  );

  useEffect(() => {
    let live = true;
    setRuns(null);
    nextRef.current = null;
    const load = () =>
      get<Page>(`/runs${params()}`)
        .then((page) => {
          if (!live) return;
          setError(null);
          setRuns((old) => {
            // Live updates: the newest page replaces its part of the list; older pages loaded
            // with "Load more" stay below it.
            const last = page.items[page.items.length - 1];
            if (old === null || last === undefined || page.next === null) {
              nextRef.current = page.next;
              return page.items;
            }
            const fresh = new Set(page.items.map((r) => r.id));
            const cut = old.findIndex((r) => r.id === last.id);
            const rest = cut < 0 ? [] : old.slice(cut + 1).filter((r) => !fresh.has(r.id));
            if (rest.length === 0) nextRef.current = page.next;
            return [...page.items, ...rest];
          });
          setNext(nextRef.current);
        })
        .catch((e: Error) => live && setError(e.message));
    void load();
    const timer = setInterval(load, 2000);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [params]);

  useEffect(() => {
    if (!canReadWorkflows) return;
    get<{ items: { name: string }[] }>('/workflows')
      .then((r) => setWorkflows([...new Set(r.items.map((w) => w.name))].sort()))
      .catch(() => undefined);
  }, [canReadWorkflows]);

  // The free text applies a moment after typing stops, not on every key.
  useEffect(() => {
    if (text === filters.q) return;
    const timer = setTimeout(() => set('q', text), 300);
    return () => clearTimeout(timer);
  }, [text]);

  async function loadMore() {
    if (nextRef.current === null) return;
    setLoadingMore(true);
    try {
      const page = await get<Page>(`/runs${params(nextRef.current)}`);
      nextRef.current = page.next;
      setNext(page.next);
      setRuns((old) => {
        const seen = new Set((old ?? []).map((r) => r.id));
        return [...(old ?? []), ...page.items.filter((r) => !seen.has(r.id))];
      });
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setLoadingMore(false);
    }
  }

  return (
    <section className="runs">
      <h1>Runs</h1>
      <form className="toolbar" role="search" onSubmit={(e) => (e.preventDefault(), set('q', text))}>
        <label>
          Search
          <input
            type="search"
            placeholder="run id, workflow, error"
            value={text}
            onChange={(e) => setText(e.target.value)}
          />
        </label>
        <label>
          Workflow
          <select value={filters.workflow} onChange={(e) => set('workflow', e.target.value)}>
            <option value="">any</option>
            {[...new Set([...workflows, ...(filters.workflow === '' ? [] : [filters.workflow])])].map((w) => (
              <option key={w}>{w}</option>
            ))}
          </select>
        </label>
        <label>
          Status
          <select value={filters.status} onChange={(e) => set('status', e.target.value)}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Trigger
          <select value={filters.triggerType} onChange={(e) => set('triggerType', e.target.value)}>
            <option value="">any</option>
            {TRIGGERS.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Since
          <select value={filters.since} onChange={(e) => set('since', e.target.value)}>
            <option value="">any time</option>
            {Object.keys(SINCE).map((s) => (
              <option key={s} value={s}>
                last {s}
              </option>
            ))}
          </select>
        </label>
      </form>
      {error !== null && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {runs === null ? (
        <p className="muted">Loading…</p>
      ) : runs.length === 0 ? (
        <p className="muted">
          {Object.values(filters).some((v) => v !== '') ? 'No runs match.' : 'No runs yet.'}
        </p>
      ) : (
        <div className="runs-table" role="table" aria-label="Runs" data-count={runs.length}>
          <div className="runs-row runs-header" role="row">
            <span role="columnheader">Workflow</span>
            <span role="columnheader">Status</span>
            <span role="columnheader">Trigger</span>
            <span role="columnheader">Started</span>
            <span role="columnheader">Duration</span>
            <span role="columnheader">Error</span>
          </div>
          <VirtualRows
            count={runs.length}
            rowHeight={ROW_HEIGHT}
            height={Math.max(320, window.innerHeight - 300)}
            row={(i) => {
              const run = runs[i]!;
              return (
                <div className="runs-row" data-run={run.id}>
                  <span role="cell">
                    <a href={href('runs', run.id)} title={run.id}>
                      {run.workflow}
                      <span className="muted">@{run.version}</span>
                    </a>
                  </span>
                  <span role="cell">
                    <span
                      className={`status status-${run.status}`}
                      title={
                        run.status === 'pending' && run.concurrencyKey != null
                          ? `waiting for a concurrency slot (key ${JSON.stringify(run.concurrencyKey)})`
                          : undefined
                      }
                    >
                      {run.status}
                    </span>
                  </span>
                  <span role="cell">{run.trigger?.type ?? 'manual'}</span>
                  <span role="cell">
                    {run.startedAt === null ? '–' : new Date(run.startedAt).toLocaleString()}
                  </span>
                  <span role="cell">{run.durationMs === null ? '–' : formatDuration(run.durationMs)}</span>
                  <span role="cell" className="error runs-err" title={run.error ?? ''}>
                    {run.error ?? ''}
                  </span>
                </div>
              );
            }}
          />
          <p className="muted runs-foot">
            {runs.length} shown{' '}
            {next !== null && (
              <button
                type="button"
                className="secondary"
                disabled={loadingMore}
                onClick={() => void loadMore()}
              >
                {loadingMore ? 'Loading…' : 'Load more'}
              </button>
            )}
          </p>
        </div>
      )}
    </section>
  );
}
