import { useState } from 'react';
import { api, get } from '../api.js';
import { ago, errorText, formatTime } from '../components/admin-format.js';
import { useAdminLoad } from '../components/useAdminLoad.js';

interface SessionRow {
  readonly id: string;
  readonly createdAt: string;
  readonly lastSeenAt: string;
  readonly expiresAt: string;
  readonly ipAddress: string | null;
  readonly userAgent: string | null;
  readonly current?: boolean;
}

/**
 * The signed-in user's own sessions (every role has them), each of which it may end: a browser
 * left signed in elsewhere is signed out at its next request.
 */
export function SessionsSection() {
  const sessions = useAdminLoad(() => get<{ items: SessionRow[] }>('/auth/sessions'), 'sessions');
  const [error, setError] = useState<string | null>(null);

  async function end(id: string) {
    try {
      await api('DELETE', `/auth/sessions/${encodeURIComponent(id)}`);
      setError(null);
      sessions.reload();
    } catch (e) {
      setError(errorText(e));
    }
  }

  return (
    <section aria-label="Your sessions" className="admin-section">
      <h2>Your sessions</h2>
      {(error ?? sessions.error) !== null && (
        <p role="alert" className="error">
          {error ?? sessions.error}
        </p>
      )}
      {sessions.data === null ? (
        <p className="muted">Loading…</p>
      ) : (
        <table className="table" aria-label="Sessions">
          <thead>
            <tr>
              <th>Signed in</th>
              <th>Last seen</th>
              <th>Ends</th>
              <th>From</th>
              <th aria-label="Actions" />
            </tr>
          </thead>
          <tbody>
            {sessions.data.items.map((s) => (
              <tr key={s.id}>
                <td>{formatTime(s.createdAt)}</td>
                <td>{ago(s.lastSeenAt)}</td>
                <td>{formatTime(s.expiresAt)}</td>
                <td className="admin-agent">
                  {s.ipAddress ?? '–'} <span className="muted">{s.userAgent ?? ''}</span>
                </td>
                <td>
                  {s.current === true ? (
                    <span className="muted">this browser</span>
                  ) : (
                    <button type="button" className="secondary" onClick={() => void end(s.id)}>
                      End session
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
