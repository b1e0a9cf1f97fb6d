import { useState, type FormEvent } from 'react';
import { api, get } from '../api.js';
import { ShownOnce } from '../components/ShownOnce.js';
import { ago, errorText, formatTime } from '../components/admin-format.js';
import { useAdminLoad } from '../components/useAdminLoad.js';
import { useCan, useSession } from '../session.js';
import { MCP_SCOPES } from '../lib/mcp-config.js';
import { ConnectMcpSection } from './ConnectMcp.js';
import { SessionsSection } from './Sessions.js';
import './admin.css';

interface ApiKey {
  readonly id: string;
  readonly name: string;
  readonly prefix: string;
  readonly scopes: readonly string[];
  readonly active: boolean;
  readonly expiresAt: string | null;
  readonly lastUsedAt: string | null;
  readonly rateLimitPerMinute?: number;
  readonly rateLimitPerHour?: number;
  readonly createdAt: string;
  readonly revokedAt: string | null;
}

function stateOf(key: ApiKey): 'revoked' | 'expired' | 'active' {
  if (key.revokedAt !== null || !key.active) return 'revoked';
  if (key.expiresAt !== null && Date.parse(key.expiresAt) <= Date.now()) return 'expired';
  return 'active';
}

/** API keys: list, create (the key shown once), revoke; how to connect MCP clients; the user's own sessions. */
export function KeysPage() {
  const canWrite = useCan('keys:write');
  const keys = useAdminLoad(() => get<{ items: ApiKey[] }>('/keys'), 'keys');
  const [created, setCreated] = useState<{ name: string; key: string } | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function revoke(key: ApiKey) {
    if (!window.confirm(`Revoke the key "${key.name}" (${key.prefix}…)? Anything using it stops working.`))
      return;
    try {
      await api('DELETE', `/keys/${encodeURIComponent(key.id)}`);
      setError(null);
      keys.reload();
    } catch (e) {
      setError(errorText(e));
    }
  }

  return (
    <section className="admin">
      <h1>API keys</h1>
      {canWrite && (
        <CreateKeyForm
          onCreated={(name, key) => {
            setCreated({ name, key });
            keys.reload();
          }}
        />
      )}
      {(error ?? keys.error) !== null && (
        <p role="alert" className="error">
          {error ?? keys.error}
        </p>
      )}
      {keys.data === null ? (
        <p className="muted">Loading…</p>
      ) : keys.data.items.length === 0 ? (
        <p className="muted">No API keys yet.</p>
      ) : (
        <table className="table" aria-label="API keys">
          <thead>
            <tr>
              <th>Name</th>
              <th>Prefix</th>
              <th>Scopes</th>
              <th>Limits</th>
              <th>Expires</th>
              <th>Last used</th>
              <th>State</th>
              {canWrite && <th aria-label="Actions" />}
            </tr>
          </thead>
          <tbody>
            {keys.data.items.map((key) => {
              const state = stateOf(key);
              return (
                <tr key={key.id}>
                  <td>{key.name}</td>
                  <td>
                    <code>{key.prefix}…</code>
                  </td>
                  <td className="admin-scopes">{key.scopes.join(', ')}</td>
                  <td>
                    {key.rateLimitPerMinute ?? '–'}/min, {key.rateLimitPerHour ?? '–'}/h
                  </td>
                  <td>{key.expiresAt === null ? 'never' : formatTime(key.expiresAt)}</td>
                  <td title={formatTime(key.lastUsedAt)}>{ago(key.lastUsedAt)}</td>
                  <td>
                    <span className={`status status-${state}`}>{state}</span>
                  </td>
                  {canWrite && (
                    <td>
                      {state !== 'revoked' && (
                        <button
                          type="button"
                          className="danger"
                          aria-label={`Revoke ${key.name}`}
                          onClick={() => void revoke(key)}
                        >
                          Revoke
                        </button>
                      )}
                    </td>
                  )}
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {created !== null && (
        <ShownOnce
          title={`Key "${created.name}" created`}
          label="API key"
          value={created.key}
          onClose={() => setCreated(null)}
        />
      )}
      <ConnectMcpSection />
      <SessionsSection />
    </section>
  );
}

/** The new key's name, scopes (from what this session may use), expiry and rate limits. */
function CreateKeyForm({ onCreated }: { onCreated: (name: string, key: string) => void }) {
  const { scopes: mine } = useSession();
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<ReadonlySet<string>>(new Set());
  const [expires, setExpires] = useState('');
  const [perMinute, setPerMinute] = useState('');
  const [perHour, setPerHour] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  function toggle(scope: string, on: boolean) {
    const next = new Set(scopes);
    if (on) next.add(scope);
    else next.delete(scope);
    setScopes(next);
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (scopes.size === 0) {
      setError('scopes: pick at least one');
      return;
    }
    setBusy(true);
    try {
      const body = {
        name: name.trim(),
        scopes: [...scopes],
        // A date: the key works through that whole day (local time).
        ...(expires === '' ? {} : { expiresAt: new Date(`${expires}T23:59:59`).toISOString() }),
        ...(perMinute === '' ? {} : { rateLimitPerMinute: Number(perMinute) }),
        ...(perHour === '' ? {} : { rateLimitPerHour: Number(perHour) }),
      };
      const res = await api<{ key: string }>('POST', '/keys', body);
      onCreated(body.name, res.key);
      setName('');
      setScopes(new Set());
      setExpires('');
      setPerMinute('');
      setPerHour('');
      setError(null);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="card admin-form" aria-label="New API key" onSubmit={(e) => void submit(e)}>
      <h2>New key</h2>
      <div className="admin-row">
        <label>
          Name
          <input required maxLength={255} value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <label>
          Expires on
          <input type="date" value={expires} onChange={(e) => setExpires(e.target.value)} />
        </label>
        <label>
          Per minute
          <input
            type="number"
            min={1}
            inputMode="numeric"
            placeholder="60"
            value={perMinute}
            onChange={(e) => setPerMinute(e.target.value)}
          />
        </label>
        <label>
          Per hour
          <input
            type="number"
            min={1}
            inputMode="numeric"
            placeholder="1000"
            value={perHour}
            onChange={(e) => setPerHour(e.target.value)}
          />
        </label>
      </div>
      <fieldset className="admin-checks">
        <legend>Scopes</legend>
        {mine.map((scope) => (
          <label key={scope} className="admin-check">
            <input
              type="checkbox"
              checked={scopes.has(scope)}
              onChange={(e) => toggle(scope, e.target.checked)}
            />
            {scope}
          </label>
        ))}
        {MCP_SCOPES.every((scope) => mine.includes(scope)) && (
          <button type="button" className="secondary" onClick={() => setScopes(new Set(MCP_SCOPES))}>
            Scopes for an MCP client
          </button>
        )}
      </fieldset>
      {error !== null && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <div>
        <button type="submit" disabled={busy}>
          Create key
        </button>
      </div>
    </form>
  );
}
