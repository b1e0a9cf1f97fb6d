import { useState } from 'react';
import { api, get, query } from '../api.js';
import { ShownOnce } from '../components/ShownOnce.js';
import { useAdminLoad } from '../components/useAdminLoad.js';
import { ago, errorText, formatTime } from '../components/admin-format.js';
import { href } from '../router.js';
import { useCan } from '../session.js';
import type { FiringView, TriggerView } from './catalog-types.js';
import './catalog.css';

interface TriggerRow {
  readonly trigger: TriggerView;
  /** A schedule's next ticks; empty for others. */
  readonly next: readonly string[];
  readonly firings: readonly FiringView[];
}

async function loadTriggers(): Promise<TriggerRow[]> {
  const { items } = await get<{ items: TriggerView[] }>('/triggers');
  return Promise.all(
    items.map(async (trigger) => {
      const ref = encodeURIComponent(trigger.id);
      const [next, firings] = await Promise.all([
        trigger.type === 'schedule'
          ? get<{ times: string[] }>(`/triggers/${ref}/next${query({ count: 5 })}`).then((r) => r.times)
          : Promise.resolve([]),
        get<{ items: FiringView[] }>(`/triggers/${ref}/firings${query({ limit: 10 })}`).then((r) => r.items),
      ]);
      return { trigger, next, firings };
    }),
  );
}

/** The full URL a webhook trigger listens on: this server's origin, which the dashboard shares. */
export function webhookUrl(path: string): string {
  return `${window.location.origin}${path}`;
}

export function TriggersPage() {
  const canWrite = useCan('triggers:write');
  const { data, error, reload } = useAdminLoad(loadTriggers, 'triggers', 10_000);
  const [actionError, setActionError] = useState<string | null>(null);
  const [secret, setSecret] = useState<{ workflow: string; value: string } | null>(null);

  async function act(trigger: TriggerView, action: 'enable' | 'disable' | 'rotate-secret') {
    try {
      const answer = await api<{ secret?: string }>(
        'POST',
        `/triggers/${encodeURIComponent(trigger.id)}/${action}`,
        action === 'rotate-secret' ? {} : undefined,
      );
      if (answer.secret !== undefined) setSecret({ workflow: trigger.workflow, value: answer.secret });
      setActionError(null);
      reload();
    } catch (e) {
      setActionError(errorText(e));
    }
  }

  return (
    <section>
      <h1>Triggers</h1>
      {(error ?? actionError) !== null && (
        <p role="alert" className="error">
          {error ?? actionError}
        </p>
      )}
      {secret !== null && (
        <ShownOnce
          title={`New signing secret of ${secret.workflow}`}
          label="Signing secret"
          value={secret.value}
          onClose={() => setSecret(null)}
        />
      )}
      {data === null ? (
        <p className="muted">Loading…</p>
      ) : data.length === 0 ? (
        <p className="muted">No triggers: a workflow with a webhook, schedule or event trigger has one.</p>
      ) : (
        <div className="cat-cards">
          {data.map(({ trigger, next, firings }) => (
            <article
              key={trigger.id}
              className="card cat-trigger"
              aria-label={`Trigger of ${trigger.workflow}`}
            >
              <div className="cat-head">
                <h2>
                  <a href={href('workflows', trigger.workflow)}>{trigger.workflow}</a>
                </h2>
                <span className="cat-tag">{trigger.type}</span>
                <span className={`status status-${trigger.enabled ? 'active' : 'cancelled'}`}>
                  {trigger.enabled ? 'enabled' : 'disabled'}
                </span>
                {canWrite && (
                  <div className="cat-actions">
                    <button
                      type="button"
                      className="secondary"
                      onClick={() => void act(trigger, trigger.enabled ? 'disable' : 'enable')}
                    >
                      {trigger.enabled ? 'Disable' : 'Enable'}
                    </button>
                    {trigger.type === 'webhook' && (
                      <button
                        type="button"
                        className="secondary"
                        onClick={() => void act(trigger, 'rotate-secret')}
                      >
                        Rotate secret
                      </button>
                    )}
                  </div>
                )}
              </div>
              <dl className="cat-facts">
                {trigger.url !== null && (
                  <>
                    <dt>Webhook URL</dt>
                    <dd>
                      <code className="cat-url">{webhookUrl(trigger.url)}</code>
                    </dd>
                  </>
                )}
                {trigger.previousSecretValidUntil !== null && (
                  <>
                    <dt>Old secret valid until</dt>
                    <dd>{formatTime(trigger.previousSecretValidUntil)}</dd>
                  </>
                )}
                {trigger.cron !== null && (
                  <>
                    <dt>Schedule</dt>
                    <dd>
                      <code>{trigger.cron}</code> {trigger.timezone ?? 'UTC'}
                    </dd>
                    <dt>Next ticks</dt>
                    <dd>
                      <ul className="cat-ticks" aria-label={`Next ticks of ${trigger.workflow}`}>
                        {next.map((t) => (
                          <li key={t}>{formatTime(t)}</li>
                        ))}
                      </ul>
                    </dd>
                  </>
                )}
                {trigger.eventType !== null && (
                  <>
                    <dt>Event</dt>
                    <dd>
                      <code>
                        {trigger.eventSource} / {trigger.eventType}
                      </code>
                    </dd>
                  </>
                )}
                <dt>Fired</dt>
                <dd>
                  {trigger.fireCount} times{trigger.lastRunAt !== null && `, last ${ago(trigger.lastRunAt)}`}
                </dd>
              </dl>
              {firings.length > 0 && (
                <table className="table" aria-label={`Firings of ${trigger.workflow}`}>
                  <thead>
                    <tr>
                      <th>When</th>
                      <th>Status</th>
                      <th>Run</th>
                      <th>Key</th>
                    </tr>
                  </thead>
                  <tbody>
                    {firings.map((f) => (
                      <tr key={f.id}>
                        <td>{formatTime(f.createdAt)}</td>
                        <td>
                          <span
                            className={`status status-${f.status === 'started' ? 'completed' : 'failed'}`}
                          >
                            {f.status}
                          </span>
                          {(f.error ?? f.reason) && <div className="muted">{f.error ?? f.reason}</div>}
                        </td>
                        <td>
                          {f.runId === null ? (
                            '–'
                          ) : (
                            <a href={href('runs', f.runId)}>{f.runId.slice(0, 8)}…</a>
                          )}
                        </td>
                        <td>
                          <code>{f.key}</code>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </article>
          ))}
        </div>
      )}
    </section>
  );
}
