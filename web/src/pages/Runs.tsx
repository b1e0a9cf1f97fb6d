import { useEffect, useState } from 'react';
import { get, query } from '../api.js';
import type { Route } from '../router.js';
import { href } from '../router.js';

export interface RunSummary {
  readonly id: string;
  readonly workflow: string;
  readonly version: string;
  readonly status: string;
  readonly startedAt: string;
  readonly completedAt: string | null;
  readonly durationMs: number | null;
}

export function RunsPage({ route }: { route: Route }) {
  const [runs, setRuns] = useState<RunSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const workflow = route.params.get('workflow') ?? undefined;
  const status = route.params.get('status') ?? undefined;

  useEffect(() => {
    let live = true;
    const load = () =>
      get<{ items: RunSummary[] }>(`/runs${query({ workflow, status, limit: 100 })}`)
        .then((r) => live && (setRuns(r.items), setError(null)))
        .catch((e: Error) => live && setError(e.message));
    void load();
    const timer = setInterval(load, 2000);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [workflow, status]);

  return (
    <section>
      <h1>Runs</h1>
      {error !== null && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {runs === null ? (
        <p className="muted">Loading…</p>
      ) : runs.length === 0 ? (
        <p className="muted">No runs yet.</p>
      ) : (
        <table className="table" aria-label="Runs">
          <thead>
            <tr>
              <th>Workflow</th>
              <th>Status</th>
              <th>Started</th>
              <th>Duration</th>
            </tr>
          </thead>
          <tbody>
            {runs.map((run) => (
              <tr key={run.id}>
                <td>
                  <a href={href('runs', run.id)}>
                    {run.workflow}@{run.version}
                  </a>
                </td>
                <td>
                  <span className={`status status-${run.status}`}>{run.status}</span>
                </td>
                <td>{new Date(run.startedAt).toLocaleString()}</td>
                <td>{run.durationMs === null ? '–' : `${run.durationMs} ms`}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
