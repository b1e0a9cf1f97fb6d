import { useMemo, useState } from 'react';
import { stringify } from 'yaml';
import { api, get } from '../api.js';
import { WorkflowGraph } from '../components/WorkflowGraph.js';
import { useAdminLoad } from '../components/useAdminLoad.js';
import { errorText, formatTime } from '../components/admin-format.js';
import { diffCounts, lineDiff, type DiffLine } from '../lib/diff.js';
import { href, navigate, type Route } from '../router.js';
import { useCan } from '../session.js';
import type { WorkflowView } from './catalog-types.js';
import { StartRun } from './StartRun.js';

/** The YAML of a version as written (the normalised form when the document is not kept). */
function yamlOf(workflow: WorkflowView): string {
  return stringify(workflow.definition ?? workflow.workflow, { lineWidth: 0 });
}

/** Versions newest first: the API lists them oldest first. */
async function loadVersions(name: string): Promise<WorkflowView[]> {
  const { items } = await get<{ items: WorkflowView[] }>(`/workflows/${encodeURIComponent(name)}/versions`);
  return [...items].reverse();
}

export function WorkflowPage({ name, route }: { name: string; route: Route }) {
  const canWrite = useCan('workflows:write');
  const canRun = useCan('runs:write');
  const versions = useAdminLoad(() => loadVersions(name), name);
  const latest = versions.data?.[0];
  const chosen = route.params.get('version') ?? latest?.version;
  // The chosen version, loaded on its own (the list has it too, but a link may name any version).
  const version = useAdminLoad(
    () =>
      chosen === undefined
        ? Promise.resolve(null)
        : get<WorkflowView>(`/workflows/${encodeURIComponent(name)}/versions/${encodeURIComponent(chosen)}`),
    `${name}@${chosen ?? ''}`,
  );
  const [starting, setStarting] = useState(false);
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState<string | null>(null);
  const shown = version.data;
  const yamlText = useMemo(() => (shown ? yamlOf(shown) : ''), [shown]);

  async function setEnabled(enabled: boolean) {
    setBusy(true);
    try {
      await api('PATCH', `/workflows/${encodeURIComponent(name)}`, { enabled });
      setActionError(null);
      versions.reload();
    } catch (e) {
      setActionError(errorText(e));
    } finally {
      setBusy(false);
    }
  }

  const error = versions.error ?? version.error ?? actionError;
  return (
    <section className="cat-page">
      <p className="muted">
        <a href={href('workflows')}>Workflows</a> /
      </p>
      <div className="cat-head">
        <h1>{name}</h1>
        {latest !== undefined && (
          <span className={`status status-${latest.enabled ? 'active' : 'cancelled'}`}>
            {latest.enabled ? 'enabled' : 'disabled'}
          </span>
        )}
        <div className="cat-actions">
          {canRun && latest !== undefined && (
            <button type="button" onClick={() => setStarting(true)} disabled={starting}>
              Start run
            </button>
          )}
          {canWrite && latest !== undefined && (
            <button
              type="button"
              className="secondary"
              disabled={busy}
              onClick={() => void setEnabled(!latest.enabled)}
            >
              {latest.enabled ? 'Disable' : 'Enable'}
            </button>
          )}
        </div>
      </div>
      {latest?.description && <p className="muted">{latest.description}</p>}
      {error !== null && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {starting && shown !== null && (
        <StartRun
          workflow={shown}
          onCancel={() => setStarting(false)}
          onStarted={(id) => navigate(`/runs/${encodeURIComponent(id)}`)}
        />
      )}
      {versions.data !== null && versions.data.length > 0 && (
        <label className="cat-inline">
          Version
          <select
            value={chosen ?? ''}
            onChange={(e) =>
              navigate(`/workflows/${encodeURIComponent(name)}?version=${encodeURIComponent(e.target.value)}`)
            }
          >
            {versions.data.map((v) => (
              <option key={v.version} value={v.version}>
                {v.version}
                {v === latest ? ' (latest)' : ''}
              </option>
            ))}
          </select>
        </label>
      )}
      {shown === null ? (
        <p className="muted">Loading…</p>
      ) : (
        <>
          <h2>Graph</h2>
          <WorkflowGraph definition={shown.workflow} height={320} />
          <h2>Definition</h2>
          <pre className="cat-yaml" aria-label="YAML">
            {yamlText}
          </pre>
        </>
      )}
      {versions.data !== null && <Versions name={name} versions={versions.data} />}
    </section>
  );
}

function Versions({ name, versions }: { name: string; versions: readonly WorkflowView[] }) {
  const [a, setA] = useState(versions[1]?.version ?? versions[0]?.version ?? '');
  const [b, setB] = useState(versions[0]?.version ?? '');
  const left = versions.find((v) => v.version === a);
  const right = versions.find((v) => v.version === b);
  const diff = useMemo<DiffLine[] | string>(() => {
    if (left === undefined || right === undefined) return [];
    try {
      return lineDiff(yamlOf(left), yamlOf(right));
    } catch (e) {
      return errorText(e);
    }
  }, [left, right]);

  return (
    <>
      <h2>Versions</h2>
      <table className="table" aria-label="Versions">
        <thead>
          <tr>
            <th>Version</th>
            <th>Created</th>
            <th>Status</th>
          </tr>
        </thead>
        <tbody>
          {versions.map((v) => (
            <tr key={v.version}>
              <td>
                <a href={`${href('workflows', name)}?version=${encodeURIComponent(v.version)}`}>
                  {v.version}
                </a>
              </td>
              <td>{formatTime(v.createdAt)}</td>
              <td>{v.status}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {versions.length > 1 && (
        <div className="cat-diff">
          <div className="toolbar">
            <label>
              From
              <select value={a} onChange={(e) => setA(e.target.value)} aria-label="Diff from">
                {versions.map((v) => (
                  <option key={v.version}>{v.version}</option>
                ))}
              </select>
            </label>
            <label>
              To
              <select value={b} onChange={(e) => setB(e.target.value)} aria-label="Diff to">
                {versions.map((v) => (
                  <option key={v.version}>{v.version}</option>
                ))}
              </select>
            </label>
            {typeof diff !== 'string' && (
              <span className="muted">
                +{diffCounts(diff).added} −{diffCounts(diff).removed}
              </span>
            )}
          </div>
          {typeof diff === 'string' ? (
            <p className="error">{diff}</p>
          ) : (
            <pre className="cat-difftext" aria-label="Diff">
              {diff.map((line, i) => (
                <div key={i} className={`cat-d-${line.kind}`}>
                  {line.kind === 'added' ? '+ ' : line.kind === 'removed' ? '- ' : '  '}
                  {line.text}
                </div>
              ))}
            </pre>
          )}
        </div>
      )}
    </>
  );
}
