import { useState } from 'react';
import { api } from '../../api.js';
import { useCan } from '../../session.js';
import type { RunView } from './types.js';

const RETRYABLE = new Set(['failed', 'cancelled', 'timeout']);

/** Cancel, Retry, Retry from failed: for users who may change runs, when the run's state allows. */
export function RunActions({ run, onChanged }: { run: RunView; onChanged: (run: RunView) => void }) {
  const canWrite = useCan('runs:write');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  if (!canWrite) return null;

  async function act(path: string, body: unknown) {
    setBusy(true);
    setError(null);
    try {
      onChanged(await api<RunView>('POST', `/runs/${encodeURIComponent(run.id)}/${path}`, body));
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="run-actions">
      {(run.status === 'running' || run.status === 'pending') && (
        <button type="button" className="danger" disabled={busy} onClick={() => void act('cancel', {})}>
          Cancel
        </button>
      )}
      {RETRYABLE.has(run.status) && (
        <>
          <button type="button" disabled={busy} onClick={() => void act('retry', {})}>
            Retry
          </button>
          <button
            type="button"
            className="secondary"
            disabled={busy}
            onClick={() => void act('retry', { fromFailed: true })}
          >
            Retry from failed
          </button>
        </>
      )}
      {error !== null && (
        <span role="alert" className="error">
          {error}
        </span>
      )}
    </div>
  );
}
