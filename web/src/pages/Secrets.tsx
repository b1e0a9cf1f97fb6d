import { useState, type FormEvent } from 'react';
import { api, get, query } from '../api.js';
import { errorText, formatTime } from '../components/admin-format.js';
import { useAdminLoad } from '../components/useAdminLoad.js';
import { useCan } from '../session.js';
import './admin.css';

interface Secret {
  readonly id: string;
  readonly name: string;
  readonly scope: 'global' | 'workflow';
  readonly workflow: string | null;
  readonly keyVersion: number;
  readonly updatedAt: string;
}

/** The server's rule (SECRET_NAME_PATTERN), checked here too so a typo is caught before sending. */
const NAME_PATTERN = '[A-Za-z_][A-Za-z0-9_]{0,99}';

/** Secrets by name: values go in through the form and never come back. */
export function SecretsPage() {
  const canWrite = useCan('secrets:write');
  const secrets = useAdminLoad(() => get<{ items: Secret[] }>('/secrets'), 'secrets');
  const [error, setError] = useState<string | null>(null);

  async function remove(secret: Secret) {
    const label = secret.workflow === null ? secret.name : `${secret.name} (workflow ${secret.workflow})`;
    if (!window.confirm(`Delete the secret ${label}? Steps that read it will fail.`)) return;
    try {
      await api(
        'DELETE',
        `/secrets/${encodeURIComponent(secret.name)}${query({ workflow: secret.workflow })}`,
      );
      setError(null);
      secrets.reload();
    } catch (e) {
      setError(errorText(e));
    }
  }

  return (
    <section className="admin">
      <h1>Secrets</h1>
      <p className="muted">Names only: a value is never shown, not even to its owner.</p>
      {canWrite && <SetSecretForm onSaved={secrets.reload} />}
      {(error ?? secrets.error) !== null && (
        <p role="alert" className="error">
          {error ?? secrets.error}
        </p>
      )}
      {secrets.data === null ? (
        <p className="muted">Loading…</p>
      ) : secrets.data.items.length === 0 ? (
        <p className="muted">No secrets yet.</p>
      ) : (
        <table className="table" aria-label="Secrets">
          <thead>
            <tr>
              <th>Name</th>
              <th>Scope</th>
              <th>Key version</th>
              <th>Updated</th>
              {canWrite && <th aria-label="Actions" />}
            </tr>
          </thead>
          <tbody>
            {secrets.data.items.map((s) => (
              <tr key={s.id}>
                <td>
                  <code>{s.name}</code>
                </td>
                <td>{s.workflow === null ? 'global' : `workflow ${s.workflow}`}</td>
                <td>{s.keyVersion === 0 ? 'imported (unreadable)' : s.keyVersion}</td>
                <td>{formatTime(s.updatedAt)}</td>
                {canWrite && (
                  <td>
                    <button
                      type="button"
                      className="danger"
                      aria-label={`Delete ${s.name}`}
                      onClick={() => void remove(s)}
                    >
                      Delete
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function SetSecretForm({ onSaved }: { onSaved: () => void }) {
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const [workflow, setWorkflow] = useState('');
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    try {
      const res = await api<{ created: boolean }>('PUT', `/secrets/${encodeURIComponent(name)}`, {
        value,
        ...(workflow.trim() === '' ? {} : { workflow: workflow.trim() }),
      });
      setMessage({ ok: true, text: `${name} ${res.created ? 'created' : 'replaced'}.` });
      setName('');
      setWorkflow('');
      onSaved();
    } catch (e) {
      setMessage({ ok: false, text: errorText(e) });
    } finally {
      // Whatever happened, the value leaves the page: it is typed again rather than kept around.
      setValue('');
      setBusy(false);
    }
  }

  return (
    <form className="card admin-form" aria-label="Set a secret" onSubmit={(e) => void submit(e)}>
      <h2>Set a secret</h2>
      <div className="admin-row">
        <label>
          Name
          <input
            required
            pattern={NAME_PATTERN}
            title="Letters, digits and _, not starting with a digit"
            value={name}
            onChange={(e) => setName(e.target.value)}
          />
        </label>
        <label>
          Value
          <input
            type="password"
            required
            autoComplete="off"
            value={value}
            onChange={(e) => setValue(e.target.value)}
          />
        </label>
        <label>
          Workflow <span className="muted">(optional)</span>
          <input value={workflow} onChange={(e) => setWorkflow(e.target.value)} />
        </label>
        <button type="submit" disabled={busy}>
          Set
        </button>
      </div>
      {message !== null && (
        <p role={message.ok ? 'status' : 'alert'} className={message.ok ? 'muted' : 'error'}>
          {message.text}
        </p>
      )}
    </form>
  );
}
