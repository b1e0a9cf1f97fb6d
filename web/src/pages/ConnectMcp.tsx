import { useState } from 'react';
import { MCP_CLIENTS, MCP_SCOPES, mcpConfigSnippet, mcpUrl, type McpClientKind } from '../lib/mcp-config.js';

/**
 * How to connect an MCP client (Claude, an IDE, an agent) to this Swarm: the `/mcp` URL and a
 * configuration for the chosen client, the key left as a placeholder (keys are shown once).
 */
export function ConnectMcpSection() {
  const url = mcpUrl(window.location.origin);
  const [kind, setKind] = useState<McpClientKind>('claude-code');
  const [copied, setCopied] = useState<'yes' | 'no' | null>(null);
  const snippet = mcpConfigSnippet(kind, url);

  async function copy() {
    try {
      await navigator.clipboard.writeText(snippet);
      setCopied('yes');
    } catch {
      // No clipboard (an insecure origin, a denied permission): the text is selectable.
      setCopied('no');
    }
  }

  return (
    <section className="admin-section mcp-connect" aria-labelledby="mcp-connect-title">
      <h2 id="mcp-connect-title">Connect an MCP client</h2>
      <p className="muted">
        Swarm is an MCP server: each of your enabled workflows is a tool, and runs and their logs are
        resources. Use an API key with the scopes {MCP_SCOPES.map((s) => `"${s}"`).join(', ')}.
      </p>
      <label>
        MCP URL
        <input readOnly value={url} onFocus={(e) => e.currentTarget.select()} />
      </label>
      <div className="mcp-clients" role="group" aria-label="MCP client">
        {(Object.keys(MCP_CLIENTS) as McpClientKind[]).map((k) => (
          <button
            key={k}
            type="button"
            className={k === kind ? undefined : 'secondary'}
            aria-pressed={k === kind}
            onClick={() => {
              setKind(k);
              setCopied(null);
            }}
          >
            {MCP_CLIENTS[k]}
          </button>
        ))}
      </div>
      <pre aria-label="MCP client configuration" className="mcp-snippet">
        {snippet}
      </pre>
      <div className="admin-actions">
        <button type="button" onClick={() => void copy()}>
          Copy configuration
        </button>
        {copied === 'yes' && (
          <span className="muted">Copied: put your key in place of YOUR_SWARM_API_KEY.</span>
        )}
        {copied === 'no' && <span className="muted">Copy it by hand: the clipboard is not available.</span>}
      </div>
    </section>
  );
}
