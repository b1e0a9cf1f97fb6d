import { useState, type FormEvent } from 'react';
import { api, get } from '../api.js';
import { errorText } from '../components/admin-format.js';
import { useAdminLoad } from '../components/useAdminLoad.js';
import { useCan } from '../session.js';
import './admin.css';

interface Connector {
  readonly id: string;
  readonly name: string;
  readonly type: string;
  readonly active: boolean;
  readonly config: Readonly<Record<string, unknown>>;
  /** The NAME of the secret the config uses (never its value). */
  readonly secret: string | null;
}

/** The server's rule (CONNECTOR_NAME), checked here too so a typo is caught before sending. */
const NAME_PATTERN = '[a-z0-9][a-z0-9._\\-]{0,99}';

function target(c: Connector): string {
  if (c.type === 'http') return String(c.config.base_url ?? '');
  if (c.type === 'smtp')
    return `${String(c.config.host ?? '')}:${String(c.config.port ?? '')} (${String(c.config.tls ?? '')})`;
  return '';
}

/** Connectors: where http_request and send_email steps go, tested on demand. */
export function ConnectorsPage() {
  const canWrite = useCan('connectors:write');
  const connectors = useAdminLoad(() => get<{ items: Connector[] }>('/connectors'), 'connectors');
  const [error, setError] = useState<string | null>(null);
  const [tested, setTested] = useState<Record<string, { ok: boolean; message: string } | 'testing'>>({});

  async function test(name: string) {
    setTested((t) => ({ ...t, [name]: 'testing' }));
    try {
      const result = await api<{ ok: boolean; message: string }>(
        'POST',
        `/connectors/${encodeURIComponent(name)}/test`,
      );
      setTested((t) => ({ ...t, [name]: result }));
    } catch (e) {
      setTested((t) => ({ ...t, [name]: { ok: false, message: errorText(e) } }));
    }
  }

  async function remove(name: string) {
    if (!window.confirm(`Remove the connector ${name}? Steps using it will fail.`)) return;
    try {
      await api('DELETE', `/connectors/${encodeURIComponent(name)}`);
      setError(null);
      connectors.reload();
    } catch (e) {
      setError(errorText(e));
    }
  }

  return (
    <section className="admin">
      <h1>Connectors</h1>
      <p className="muted">
        <code>http</code> connectors give <code>builtin/http_request</code> a base URL, headers and auth (
        <code>connector: NAME</code>); <code>smtp</code> connectors send <code>builtin/send_email</code>.
        Credentials are secrets, named here, never shown.
      </p>
      {canWrite && <AddConnectorForm onSaved={connectors.reload} />}
      {(error ?? connectors.error) !== null && (
        <p role="alert" className="error">
          {error ?? connectors.error}
        </p>
      )}
      {connectors.data === null ? (
        <p className="muted">Loading…</p>
      ) : connectors.data.items.length === 0 ? (
        <p className="muted">No connectors yet.</p>
      ) : (
        <table className="table" aria-label="Connectors">
          <thead>
            <tr>
              <th>Name</th>
              <th>Type</th>
              <th>Target</th>
              <th>Secret</th>
              <th>Test</th>
              <th aria-label="Actions" />
            </tr>
          </thead>
          <tbody>
            {connectors.data.items.map((c) => {
              const result = tested[c.name];
              return (
                <tr key={c.id}>
                  <td>
                    <code>{c.name}</code>
                  </td>
                  <td>{c.type}</td>
                  <td>
                    <code>{target(c)}</code>
                  </td>
                  <td>{c.secret ?? '–'}</td>
                  <td role="status" aria-label={`Test result of ${c.name}`}>
                    {result === undefined
                      ? ''
                      : result === 'testing'
                        ? 'Testing…'
                        : `${result.ok ? 'ok' : 'failed'}: ${result.message}`}
                  </td>
                  <td className="admin-actions">
                    {canWrite && (
                      <button type="button" aria-label={`Test ${c.name}`} onClick={() => void test(c.name)}>
                        Test
                      </button>
                    )}
                    {canWrite && (
                      <button
                        type="button"
                        className="danger"
                        aria-label={`Remove ${c.name}`}
                        onClick={() => void remove(c.name)}
                      >
                        Remove
                      </button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** `NAME: value` lines → headers; blank lines skipped. */
function headerLines(text: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (line === '') continue;
    const at = line.indexOf(':');
    if (at <= 0) throw new Error(`Headers: "${line}" must be Name: value`);
    headers[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return headers;
}

type AuthType = 'none' | 'bearer' | 'basic' | 'api_key';

function AddConnectorForm({ onSaved }: { onSaved: () => void }) {
  const [name, setName] = useState('');
  const [type, setType] = useState<'http' | 'smtp'>('smtp');
  const [fields, setFields] = useState<Record<string, string>>({
    tls: 'starttls',
    port: '587',
    auth: 'none',
  });
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const field = (key: string) => fields[key] ?? '';
  const set = (key: string) => (e: { target: { value: string } }) =>
    setFields((f) => ({ ...f, [key]: e.target.value }));
  const optional = (key: string, value = field(key).trim()) => (value === '' ? {} : { [key]: value });

  function config(): Record<string, unknown> {
    if (type === 'smtp')
      return {
        host: field('host').trim(),
        port: Number(field('port')),
        tls: field('tls'),
        ...optional('username'),
        ...optional('password_secret'),
        from: field('from').trim(),
      };
    const auth = field('auth') as AuthType;
    const headers = headerLines(field('headers'));
    return {
      base_url: field('base_url').trim(),
      ...(Object.keys(headers).length > 0 ? { headers } : {}),
      ...(auth === 'none'
        ? {}
        : {
            auth: {
              type: auth,
              secret: field('secret').trim(),
              ...(auth === 'basic' ? { username: field('auth_username').trim() } : {}),
              ...(auth === 'api_key' ? { header: field('auth_header').trim() } : {}),
            },
          }),
    };
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    try {
      await api('POST', '/connectors', { name, type, config: config() });
      setMessage({ ok: true, text: `${name} added.` });
      setName('');
      setFields({ tls: 'starttls', port: '587', auth: 'none' });
      onSaved();
    } catch (e) {
      setMessage({ ok: false, text: errorText(e) });
    } finally {
      setBusy(false);
    }
  }

  const auth = field('auth') as AuthType;
  return (
    <form className="card admin-form" aria-label="Add a connector" onSubmit={(e) => void submit(e)}>
      <h2>Add a connector</h2>
      <div className="admin-row">
        <label>
          Name
          <input
            required
            pattern={NAME_PATTERN}
            title="Lower-case letters, digits, . _ -"
            value={name}
            onChange={(e) => setName(e.target.value)}
          />
        </label>
        <label>
          Type
          <select aria-label="Type" value={type} onChange={(e) => setType(e.target.value as 'http' | 'smtp')}>
            <option value="smtp">smtp (send email)</option>
            <option value="http">http (requests to an API)</option>
          </select>
        </label>
        {type === 'smtp' ? (
          <>
            <label>
              Host
              <input required value={field('host')} onChange={set('host')} />
            </label>
            <label>
              Port
              <input
                required
                type="number"
                min={1}
                max={65535}
                value={field('port')}
                onChange={set('port')}
              />
            </label>
            <label>
              TLS
              <select aria-label="TLS" value={field('tls')} onChange={set('tls')}>
                <option value="starttls">STARTTLS (587)</option>
                <option value="implicit">implicit TLS (465)</option>
                <option value="none">none (local catchers only)</option>
              </select>
            </label>
            <label>
              Username
              <input value={field('username')} onChange={set('username')} />
            </label>
            <label>
              Password secret <span className="muted">(name)</span>
              <input value={field('password_secret')} onChange={set('password_secret')} />
            </label>
            <label>
              From
              <input
                required
                value={field('from')}
                onChange={set('from')}
                placeholder="Swarm <swarm@example.com>"
              />
            </label>
          </>
        ) : (
          <>
            <label>
              Base URL
              <input required type="url" value={field('base_url')} onChange={set('base_url')} />
            </label>
            <label>
              Headers <span className="muted">(Name: value, one per line)</span>
              <textarea rows={2} value={field('headers')} onChange={set('headers')} />
            </label>
            <label>
              Auth
              <select aria-label="Auth" value={auth} onChange={set('auth')}>
                <option value="none">none</option>
                <option value="bearer">bearer token</option>
                <option value="basic">basic (username and password)</option>
                <option value="api_key">API-key header</option>
              </select>
            </label>
            {auth === 'basic' && (
              <label>
                Auth username
                <input required value={field('auth_username')} onChange={set('auth_username')} />
              </label>
            )}
            {auth === 'api_key' && (
              <label>
                Auth header
                <input
                  required
                  value={field('auth_header')}
                  onChange={set('auth_header')}
                  placeholder="X-Api-Key"
                />
              </label>
            )}
            {auth !== 'none' && (
              <label>
                Auth secret <span className="muted">(name)</span>
                <input required value={field('secret')} onChange={set('secret')} />
              </label>
            )}
          </>
        )}
        <button type="submit" disabled={busy}>
          Add
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
