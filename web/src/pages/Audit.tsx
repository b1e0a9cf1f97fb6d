import { Fragment, useEffect, useState, type FormEvent } from 'react';
import { get, query } from '../api.js';
import { errorText, formatTime } from '../components/admin-format.js';
import './admin.css';

interface AuditRow {
  readonly id: string;
  readonly actorId: string | null;
  readonly actorEmail: string | null;
  readonly ownerId: string | null;
  readonly keyId: string | null;
  readonly action: string;
  readonly success: boolean;
  readonly resourceType: string | null;
  readonly resourceId: string | null;
  readonly ipAddress: string | null;
  readonly userAgent: string | null;
  readonly errorMessage: string | null;
  readonly metadata?: Record<string, unknown>;
  readonly createdAt: string;
}

interface Filters {
  readonly actor: string;
  readonly action: string;
  readonly resourceType: string;
  readonly resourceId: string;
  readonly since: string;
}

const NO_FILTERS: Filters = { actor: '', action: '', resourceType: '', resourceId: '', since: '' };
const PAGE = 50;

/** The audit log, newest first, a page at a time ("Load more" follows the server's cursor). */
export function AuditPage() {
  const [draft, setDraft] = useState<Filters>(NO_FILTERS);
  const [rows, setRows] = useState<AuditRow[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [applied, setApplied] = useState<Filters>(NO_FILTERS);
  const [open, setOpen] = useState<ReadonlySet<string>>(new Set());
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function load(filters: Filters, after: string | null) {
    setBusy(true);
    try {
      const page = await get<{ items: AuditRow[]; nextCursor: string | null }>(
        `/audit-logs${query({
          actor: filters.actor.trim(),
          action: filters.action.trim(),
          resourceType: filters.resourceType.trim(),
          resourceId: filters.resourceId.trim(),
          // datetime-local is local time without a zone: made an instant here.
          since: filters.since === '' ? undefined : new Date(filters.since).toISOString(),
          cursor: after,
          limit: PAGE,
        })}`,
      );
      setRows((old) => (after === null || old === null ? page.items : [...old, ...page.items]));
      setCursor(page.nextCursor);
      setApplied(filters);
      setError(null);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  }

  useEffect(() => {
    void load(NO_FILTERS, null);
    // Once, on opening the page; later loads come from the form and "Load more".
  }, []);

  function submit(event: FormEvent) {
    event.preventDefault();
    setOpen(new Set());
    void load(draft, null);
  }

  function toggle(id: string) {
    const next = new Set(open);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setOpen(next);
  }

  const field = (key: keyof Filters, label: string, placeholder: string, type = 'text') => (
    <label>
      {label}
      <input
        type={type}
        placeholder={placeholder}
        value={draft[key]}
        onChange={(e) => setDraft({ ...draft, [key]: e.target.value })}
      />
    </label>
  );

  return (
    <section className="admin">
      <h1>Audit log</h1>
      <form className="toolbar" aria-label="Filter the audit log" onSubmit={submit}>
        {field('actor', 'Actor', 'email or user id')}
        {field('action', 'Action', 'key.create, run, key.*')}
        {field('resourceType', 'Resource type', 'api_key')}
        {field('resourceId', 'Resource id', '')}
        {field('since', 'Since', '', 'datetime-local')}
        <button type="submit" disabled={busy}>
          Filter
        </button>
      </form>
      {error !== null && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {rows === null ? (
        <p className="muted">Loading…</p>
      ) : rows.length === 0 ? (
        <p className="muted">Nothing recorded{applied === NO_FILTERS ? '' : ' that matches'}.</p>
      ) : (
        <table className="table" aria-label="Audit log">
          <thead>
            <tr>
              <th aria-label="Details" />
              <th>When</th>
              <th>Actor</th>
              <th>Action</th>
              <th>Resource</th>
              <th>Result</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <Fragment key={row.id}>
                <tr>
                  <td>
                    <button
                      type="button"
                      className="link"
                      aria-expanded={open.has(row.id)}
                      aria-label={`Details of ${row.action} at ${formatTime(row.createdAt)}`}
                      onClick={() => toggle(row.id)}
                    >
                      {open.has(row.id) ? '▾' : '▸'}
                    </button>
                  </td>
                  <td>{formatTime(row.createdAt)}</td>
                  <td>{row.actorEmail ?? row.actorId ?? <span className="muted">Swarm</span>}</td>
                  <td>
                    <code>{row.action}</code>
                  </td>
                  <td>
                    {row.resourceType ?? '–'}
                    {row.resourceId !== null && <span className="muted"> {row.resourceId}</span>}
                  </td>
                  <td>
                    <span className={`status status-${row.success ? 'success' : 'failed'}`}>
                      {row.success ? 'ok' : 'refused'}
                    </span>
                  </td>
                </tr>
                {open.has(row.id) && (
                  <tr className="admin-detail">
                    <td colSpan={6}>
                      <dl>
                        <dt>From</dt>
                        <dd>
                          {row.ipAddress ?? '–'} {row.userAgent ?? ''}
                        </dd>
                        <dt>Key</dt>
                        <dd>{row.keyId ?? '– (session or system)'}</dd>
                        {row.errorMessage !== null && (
                          <>
                            <dt>Error</dt>
                            <dd>{row.errorMessage}</dd>
                          </>
                        )}
                      </dl>
                      <pre aria-label="Metadata">{JSON.stringify(row.metadata ?? {}, null, 2)}</pre>
                    </td>
                  </tr>
                )}
              </Fragment>
            ))}
          </tbody>
        </table>
      )}
      {cursor !== null && (
        <p>
          <button
            type="button"
            className="secondary"
            disabled={busy}
            onClick={() => void load(applied, cursor)}
          >
            Load more
          </button>
        </p>
      )}
    </section>
  );
}
