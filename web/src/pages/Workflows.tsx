import { useState } from 'react';
import { api, get, query } from '../api.js';
import { useAdminLoad } from '../components/useAdminLoad.js';
import { ago, errorText } from '../components/admin-format.js';
import type { Route } from '../router.js';
import { href, navigate } from '../router.js';
import { useCan } from '../session.js';
import type { RunBrief, WorkflowView } from './catalog-types.js';
import { WorkflowPage } from './WorkflowPage.js';
import './catalog.css';

interface Row {
  readonly workflow: WorkflowView;
  readonly lastRun: RunBrief | null;
}

/** The latest version of each workflow with its last run (one small request per workflow). */
async function loadRows(): Promise<Row[]> {
  const { items } = await get<{ items: WorkflowView[] }>('/workflows');
  return Promise.all(
    items.map(async (workflow) => {
      const runs = await get<{ items: RunBrief[] }>(`/runs${query({ workflow: workflow.name, limit: 1 })}`);
      return { workflow, lastRun: runs.items[0] ?? null };
    }),
  );
}

export function WorkflowsPage({ route }: { route: Route }) {
  const name = route.segments[1];
  if (name !== undefined) return <WorkflowPage key={name} name={name} route={route} />;
  return <WorkflowList />;
}

function WorkflowList() {
  const canWrite = useCan('workflows:write');
  const { data, error, reload } = useAdminLoad(loadRows, 'workflows', 5000);
  const [busy, setBusy] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);

  async function setEnabled(name: string, enabled: boolean) {
    setBusy(name);
    try {
      await api('PATCH', `/workflows/${encodeURIComponent(name)}`, { enabled });
      setActionError(null);
      reload();
    } catch (e) {
      setActionError(errorText(e));
    } finally {
      setBusy(null);
    }
  }

  return (
    <section>
      <div className="cat-head">
        <h1>Workflows</h1>
        {canWrite && (
          <div className="cat-actions">
            <button type="button" onClick={() => navigate('/templates')}>
              New workflow
            </button>
          </div>
        )}
      </div>
      {(error ?? actionError) !== null && (
        <p role="alert" className="error">
          {error ?? actionError}
        </p>
      )}
      {data === null ? (
        <p className="muted">Loading…</p>
      ) : data.length === 0 ? (
        <p className="muted">
          No workflows yet: make one from a template (New workflow), or apply one with `swarm apply` or POST
          /api/v1/workflows.
        </p>
      ) : (
        <table className="table" aria-label="Workflows">
          <thead>
            <tr>
              <th>Name</th>
              <th>Latest version</th>
              <th>Enabled</th>
              <th>Trigger</th>
              <th>Last run</th>
            </tr>
          </thead>
          <tbody>
            {data.map(({ workflow, lastRun }) => (
              <tr key={workflow.name} data-workflow={workflow.name}>
                <td>
                  <a href={href('workflows', workflow.name)}>{workflow.name}</a>
                  {workflow.description && <div className="muted cat-desc">{workflow.description}</div>}
                </td>
                <td>{workflow.version}</td>
                <td>
                  <span className={`status status-${workflow.enabled ? 'active' : 'cancelled'}`}>
                    {workflow.enabled ? 'enabled' : 'disabled'}
                  </span>
                  {canWrite && (
                    <button
                      type="button"
                      className="link"
                      disabled={busy === workflow.name}
                      onClick={() => void setEnabled(workflow.name, !workflow.enabled)}
                      aria-label={`${workflow.enabled ? 'Disable' : 'Enable'} ${workflow.name}`}
                    >
                      {workflow.enabled ? 'Disable' : 'Enable'}
                    </button>
                  )}
                </td>
                <td>{workflow.trigger?.type ?? 'manual'}</td>
                <td>
                  {lastRun === null ? (
                    <span className="muted">never</span>
                  ) : (
                    <a href={href('runs', lastRun.id)}>
                      <span className={`status status-${lastRun.status}`}>{lastRun.status}</span>{' '}
                      {ago(lastRun.startedAt)}
                    </a>
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
