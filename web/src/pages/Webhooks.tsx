import { useState } from 'react';
import { api, get } from '../api.js';
import { useAdminLoad } from '../components/useAdminLoad.js';
import { ago, errorText, formatTime } from '../components/admin-format.js';
import { useCan } from '../session.js';
import type { DeliveryView, WebhookView } from './catalog-types.js';
import './catalog.css';

export function WebhooksPage() {
  const { data, error } = useAdminLoad(
    () => get<{ items: WebhookView[] }>('/webhooks').then((r) => r.items),
    'webhooks',
    10_000,
  );
  const [open, setOpen] = useState<string | null>(null);
  return (
    <section>
      <h1>Outgoing webhooks</h1>
      {error !== null && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {data === null ? (
        <p className="muted">Loading…</p>
      ) : data.length === 0 ? (
        <p className="muted">No webhooks: POST /api/v1/webhooks subscribes a URL to event types.</p>
      ) : (
        <table className="table" aria-label="Webhooks">
          <thead>
            <tr>
              <th>Name</th>
              <th>URL</th>
              <th>Event types</th>
              <th>Active</th>
              <th>Failures</th>
              <th>Last delivery</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {data.map((w) => (
              <tr key={w.id}>
                <td>{w.name}</td>
                <td>
                  <code className="cat-url">{w.url}</code>
                </td>
                <td>{w.eventTypes.join(', ')}</td>
                <td>
                  <span className={`status status-${w.active ? 'active' : 'cancelled'}`}>
                    {w.active ? 'active' : 'inactive'}
                  </span>
                </td>
                <td>{w.failureCount}</td>
                <td>{ago(w.lastDeliveryAt)}</td>
                <td>
                  <button type="button" className="link" onClick={() => setOpen(open === w.id ? null : w.id)}>
                    {open === w.id ? 'Hide deliveries' : 'Deliveries'}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {open !== null && data?.some((w) => w.id === open) && (
        <Deliveries key={open} webhook={data.find((w) => w.id === open)!} />
      )}
    </section>
  );
}

function Deliveries({ webhook }: { webhook: WebhookView }) {
  const canWrite = useCan('webhooks:write');
  const { data, error, reload } = useAdminLoad(
    () =>
      // No `limit`: the route types it as an integer, which a query string never is (the app
      // does not coerce), so any value is a 400; its default, 50, is what this table shows.
      get<{ items: DeliveryView[] }>(`/webhooks/${encodeURIComponent(webhook.id)}/deliveries`).then(
        (r) => r.items,
      ),
    webhook.id,
    5000,
  );
  const [actionError, setActionError] = useState<string | null>(null);

  async function redeliver(id: string) {
    try {
      await api('POST', `/webhook-deliveries/${encodeURIComponent(id)}/redeliver`);
      setActionError(null);
      reload();
    } catch (e) {
      setActionError(errorText(e));
    }
  }

  return (
    <>
      <h2>Deliveries of {webhook.name}</h2>
      {(error ?? actionError) !== null && (
        <p role="alert" className="error">
          {error ?? actionError}
        </p>
      )}
      {data === null ? (
        <p className="muted">Loading…</p>
      ) : data.length === 0 ? (
        <p className="muted">Nothing sent yet.</p>
      ) : (
        <table className="table" aria-label={`Deliveries of ${webhook.name}`}>
          <thead>
            <tr>
              <th>Created</th>
              <th>Event</th>
              <th>Status</th>
              <th>Attempts</th>
              <th>Response</th>
              <th>Next attempt</th>
              {canWrite && <th />}
            </tr>
          </thead>
          <tbody>
            {data.map((d) => (
              <tr key={d.id}>
                <td>{formatTime(d.createdAt)}</td>
                <td>
                  <code>{d.eventType}</code>
                </td>
                <td>
                  <span className={`status status-${d.status === 'delivered' ? 'completed' : d.status}`}>
                    {d.status}
                  </span>
                  {d.lastError && <div className="error">{d.lastError}</div>}
                </td>
                <td>{d.attemptCount}</td>
                <td>
                  {d.lastStatusCode ?? '–'}
                  {d.lastLatencyMs !== null && <span className="muted"> {d.lastLatencyMs} ms</span>}
                </td>
                <td>{d.nextAttemptAt === null ? '–' : formatTime(d.nextAttemptAt)}</td>
                {canWrite && (
                  <td>
                    <button type="button" className="secondary" onClick={() => void redeliver(d.id)}>
                      Redeliver
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
