import { useState, type FormEvent } from 'react';
import { api, get } from '../api.js';
import { errorText } from '../components/admin-format.js';
import { useAdminLoad } from '../components/useAdminLoad.js';
import { useCan } from '../session.js';
import './admin.css';

interface McpServer {
  readonly id: string;
  readonly name: string;
  readonly transport: 'stdio' | 'http';
  readonly command: string | null;
  readonly args: readonly string[];
  readonly url: string | null;
  /** Header name → the NAME of the secret holding its value (never the value). */
  readonly headers: Readonly<Record<string, string>>;
  readonly env: readonly string[];
}

interface McpTool {
  readonly name: string;
  readonly description?: string;
}

/** The server's rule (MCP_SERVER_NAME), checked here too so a typo is caught before sending. */
const NAME_PATTERN = '[a-z0-9][a-z0-9._\\-]{0,99}';

function endpoint(server: McpServer): string {
  if (server.transport === 'http') return server.url ?? '';
  return [server.command ?? '', ...server.args].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ');
}

/** MCP servers: what each runs or where it is, the secrets it names, its tools on demand. */
export function McpServersPage() {
  const canWrite = useCan('mcp:write');
  const servers = useAdminLoad(() => get<{ items: McpServer[] }>('/mcp/servers'), 'mcp-servers');
  const [error, setError] = useState<string | null>(null);
  const [tools, setTools] = useState<{
    server: string;
    items: McpTool[] | null;
    error: string | null;
  } | null>(null);

  async function showTools(name: string) {
    setTools({ server: name, items: null, error: null });
    try {
      const res = await get<{ tools: McpTool[] }>(`/mcp/servers/${encodeURIComponent(name)}/tools`);
      setTools({ server: name, items: res.tools, error: null });
    } catch (e) {
      setTools({ server: name, items: null, error: errorText(e) });
    }
  }

  async function remove(name: string) {
    if (!window.confirm(`Remove the MCP server ${name}? Steps and agents using its tools will fail.`)) return;
    try {
      await api('DELETE', `/mcp/servers/${encodeURIComponent(name)}`);
      setError(null);
      if (tools?.server === name) setTools(null);
      servers.reload();
    } catch (e) {
      setError(errorText(e));
    }
  }

  return (
    <section className="admin">
      <h1>MCP servers</h1>
      <p className="muted">
        Their tools run as agents <code>mcp/&lt;server&gt;/&lt;tool&gt;</code>: in workflow steps, and as
        tools of LLM agents. Credentials are secrets, named here, never shown.
      </p>
      {canWrite && <AddServerForm onSaved={servers.reload} />}
      {(error ?? servers.error) !== null && (
        <p role="alert" className="error">
          {error ?? servers.error}
        </p>
      )}
      {servers.data === null ? (
        <p className="muted">Loading…</p>
      ) : servers.data.items.length === 0 ? (
        <p className="muted">No MCP servers yet.</p>
      ) : (
        <table className="table" aria-label="MCP servers">
          <thead>
            <tr>
              <th>Name</th>
              <th>Transport</th>
              <th>Command / URL</th>
              <th>Secrets</th>
              <th aria-label="Actions" />
            </tr>
          </thead>
          <tbody>
            {servers.data.items.map((s) => (
              <tr key={s.id}>
                <td>
                  <code>{s.name}</code>
                </td>
                <td>{s.transport}</td>
                <td>
                  <code>{endpoint(s)}</code>
                </td>
                <td>
                  {[...Object.entries(s.headers).map(([h, secret]) => `${h}: ${secret}`), ...s.env].join(
                    ', ',
                  ) || '–'}
                </td>
                <td className="admin-actions">
                  <button
                    type="button"
                    aria-label={`Tools of ${s.name}`}
                    onClick={() => void showTools(s.name)}
                  >
                    Tools
                  </button>
                  {canWrite && (
                    <button
                      type="button"
                      className="danger"
                      aria-label={`Remove ${s.name}`}
                      onClick={() => void remove(s.name)}
                    >
                      Remove
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {tools !== null && (
        <section className="admin-section" aria-label={`Tools of ${tools.server}`}>
          <h2>Tools of {tools.server}</h2>
          {tools.error !== null ? (
            <p role="alert" className="error">
              {tools.error}
            </p>
          ) : tools.items === null ? (
            <p className="muted">Asking the server…</p>
          ) : tools.items.length === 0 ? (
            <p className="muted">It offers no tools.</p>
          ) : (
            <table className="table" aria-label={`Tool list of ${tools.server}`}>
              <thead>
                <tr>
                  <th>Agent</th>
                  <th>Description</th>
                </tr>
              </thead>
              <tbody>
                {tools.items.map((t) => (
                  <tr key={t.name}>
                    <td>
                      <code>
                        mcp/{tools.server}/{t.name}
                      </code>
                    </td>
                    <td>{t.description ?? ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      )}
    </section>
  );
}

/** `NAME=SECRET` lines → headers; blank lines skipped. */
function headerLines(text: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (line === '') continue;
    const at = line.indexOf('=');
    if (at <= 0) throw new Error(`Headers: "${line}" must be NAME=SECRET`);
    headers[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return headers;
}

const words = (text: string) => text.split(/[\s,]+/).filter((w) => w !== '');

function AddServerForm({ onSaved }: { onSaved: () => void }) {
  const [name, setName] = useState('');
  const [transport, setTransport] = useState<'stdio' | 'http'>('stdio');
  const [command, setCommand] = useState('');
  const [args, setArgs] = useState('');
  const [url, setUrl] = useState('');
  const [headers, setHeaders] = useState('');
  const [env, setEnv] = useState('');
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    try {
      const body =
        transport === 'stdio'
          ? { command, args: args.split('\n').filter((a) => a !== ''), env: words(env) }
          : { url, headers: headerLines(headers) };
      // Create only: a server of that name is refused (409), not silently replaced.
      await api('PUT', `/mcp/servers/${encodeURIComponent(name)}`, body, { 'if-none-match': '*' });
      setMessage({ ok: true, text: `${name} added.` });
      setName('');
      setCommand('');
      setArgs('');
      setUrl('');
      setHeaders('');
      setEnv('');
      onSaved();
    } catch (e) {
      setMessage({ ok: false, text: errorText(e) });
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="card admin-form" aria-label="Add an MCP server" onSubmit={(e) => void submit(e)}>
      <h2>Add an MCP server</h2>
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
          Transport
          <select value={transport} onChange={(e) => setTransport(e.target.value as 'stdio' | 'http')}>
            <option value="stdio">stdio (a program in the sandbox)</option>
            <option value="http">http (streamable HTTP)</option>
          </select>
        </label>
        {transport === 'stdio' ? (
          <>
            <label>
              Command
              <input required value={command} onChange={(e) => setCommand(e.target.value)} />
            </label>
            <label>
              Arguments <span className="muted">(one per line)</span>
              <textarea rows={2} value={args} onChange={(e) => setArgs(e.target.value)} />
            </label>
            <label>
              Env secrets <span className="muted">(names)</span>
              <input value={env} onChange={(e) => setEnv(e.target.value)} />
            </label>
          </>
        ) : (
          <>
            <label>
              URL
              <input required type="url" value={url} onChange={(e) => setUrl(e.target.value)} />
            </label>
            <label>
              Headers <span className="muted">(NAME=SECRET, one per line)</span>
              <textarea rows={2} value={headers} onChange={(e) => setHeaders(e.target.value)} />
            </label>
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
