import { useState, type FormEvent } from 'react';
import { api, ApiError, get, query } from '../api.js';
import { StoredValue } from '../components/StoredValue.js';
import { useAdminLoad } from '../components/useAdminLoad.js';
import { errorText, formatTime } from '../components/admin-format.js';
import { href } from '../router.js';
import { useCan } from '../session.js';
import type { EventView } from './catalog-types.js';
import './catalog.css';

export function EventsPage() {
  const canWrite = useCan('events:write');
  const { data, error, reload } = useAdminLoad(
    () => get<{ items: EventView[] }>(`/events${query({ limit: 100 })}`).then((r) => r.items),
    'events',
    5000,
  );
  return (
    <section>
      <h1>Events</h1>
      {canWrite && <PublishEvent onPublished={reload} />}
      {error !== null && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {data === null ? (
        <p className="muted">Loading…</p>
      ) : data.length === 0 ? (
        <p className="muted">No events yet.</p>
      ) : (
        <table className="table" aria-label="Events">
          <thead>
            <tr>
              <th>When</th>
              <th>Source / type</th>
              <th>Status</th>
              <th>Attempts</th>
              <th>Depth</th>
              <th>Run</th>
              <th>Payload</th>
            </tr>
          </thead>
          <tbody>
            {data.map((e) => (
              <tr key={e.id}>
                <td>{formatTime(e.createdAt)}</td>
                <td>
                  <code>
                    {e.source} / {e.type}
                  </code>
                </td>
                <td>
                  <span className={`status status-${e.status === 'dispatched' ? 'completed' : e.status}`}>
                    {e.status}
                  </span>
                  {e.lastError && <div className="error">{e.lastError}</div>}
                </td>
                <td>{e.attempts}</td>
                <td>{e.depth}</td>
                <td>{e.runId === null ? '–' : <a href={href('runs', e.runId)}>{e.runId.slice(0, 8)}…</a>}</td>
                <td>
                  <details>
                    <summary>JSON</summary>
                    <StoredValue value={e.payload} />
                  </details>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** Publish one event: source, type and a JSON payload; the server's field errors by their field. */
function PublishEvent({ onPublished }: { onPublished: () => void }) {
  const [source, setSource] = useState('');
  const [type, setType] = useState('');
  const [payload, setPayload] = useState('{}');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [done, setDone] = useState<string | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const local: Record<string, string> = {};
    if (source.trim() === '') local.source = 'is required';
    if (type.trim() === '') local.type = 'is required';
    let body: unknown = {};
    try {
      body = payload.trim() === '' ? {} : JSON.parse(payload);
    } catch {
      local.payload = 'not valid JSON';
    }
    setErrors(local);
    if (Object.keys(local).length > 0) return;
    try {
      const { id } = await api<{ id: string }>('POST', '/events', { source, type, payload: body });
      setDone(id);
      onPublished();
    } catch (e) {
      const found: Record<string, string> = {};
      for (const { field, message } of e instanceof ApiError ? (e.problem.errors ?? []) : [])
        found[field.replace(/^body\./, '')] = message;
      if (Object.keys(found).length === 0) found[''] = errorText(e);
      setErrors(found);
    }
  }

  const problem = (field: string) =>
    errors[field] === undefined ? null : (
      <span className="error" role="alert">
        {errors[field]}
      </span>
    );
  return (
    <form className="card cat-form" onSubmit={(e) => void submit(e)} aria-label="Publish an event" noValidate>
      <div className="toolbar">
        <label>
          Source
          <input value={source} onChange={(e) => setSource(e.target.value)} placeholder="github" />
          {problem('source')}
        </label>
        <label>
          Type
          <input value={type} onChange={(e) => setType(e.target.value)} placeholder="push" />
          {problem('type')}
        </label>
      </div>
      <label>
        Payload (JSON)
        <textarea rows={4} value={payload} onChange={(e) => setPayload(e.target.value)} spellCheck={false} />
        {problem('payload')}
      </label>
      {problem('')}
      <div className="cat-actions">
        <button type="submit">Publish</button>
        {done !== null && <span className="muted">Published {done.slice(0, 8)}…</span>}
      </div>
    </form>
  );
}
