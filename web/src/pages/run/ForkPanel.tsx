import { useState, type FormEvent } from 'react';
import { api, ApiError } from '../../api.js';
import { navigate } from '../../router.js';
import { useCan } from '../../session.js';
import type { RunView } from './types.js';

type Problem = {
  readonly message: string;
  readonly differences: readonly { field: string; message: string }[];
};

/**
 * "Fork from here" in a step's drawer: a new run that runs this step and what depends on it
 * again, reusing the other steps' recorded outputs (docs/replay.md). Asks first, with the
 * version (the run's own or the latest) and an optional new input; a refusal lists the steps
 * that differ.
 */
export function ForkPanel({ runId, stepId }: { runId: string; stepId: string }) {
  const canWrite = useCan('runs:write');
  const [open, setOpen] = useState(false);
  const [version, setVersion] = useState<'pinned' | 'latest'>('pinned');
  const [input, setInput] = useState('');
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);
  if (!canWrite) return null;

  async function submit(event: FormEvent) {
    event.preventDefault();
    let parsed: unknown;
    if (input.trim() !== '') {
      try {
        parsed = JSON.parse(input);
      } catch (e) {
        return setProblem({ message: `Input: not JSON (${(e as Error).message})`, differences: [] });
      }
    }
    setBusy(true);
    setProblem(null);
    try {
      const run = await api<RunView>('POST', `/runs/${encodeURIComponent(runId)}/fork`, {
        fromStep: stepId,
        ...(version === 'latest' ? { version: 'latest' } : {}),
        ...(parsed === undefined ? {} : { input: parsed }),
      });
      navigate(`/runs/${encodeURIComponent(run.id)}`);
    } catch (e) {
      const differences =
        e instanceof ApiError && e.problem.code === 'FORK_MISMATCH' ? (e.problem.errors ?? []) : [];
      setProblem({
        message:
          differences.length > 0
            ? `This run cannot be forked from ${stepId} on that version:`
            : (e as Error).message,
        differences,
      });
    } finally {
      setBusy(false);
    }
  }

  if (!open)
    return (
      <button type="button" className="secondary" onClick={() => setOpen(true)}>
        Fork from here
      </button>
    );
  return (
    <form className="run-fork card" aria-label={`Fork from ${stepId}`} onSubmit={(e) => void submit(e)}>
      <p>
        A new run of this workflow runs <b>{stepId}</b> and every step that depends on it again; the other
        steps keep this run’s outputs and do not run.
      </p>
      <label>
        Version
        <select value={version} onChange={(e) => setVersion(e.target.value as 'pinned' | 'latest')}>
          <option value="pinned">This run’s version</option>
          <option value="latest">Latest version</option>
        </select>
      </label>
      <label>
        Input (JSON, empty: this run’s)
        <textarea rows={4} value={input} onChange={(e) => setInput(e.target.value)} spellCheck={false} />
      </label>
      {problem !== null && (
        <div role="alert" className="error">
          <p>{problem.message}</p>
          {problem.differences.length > 0 && (
            <ul aria-label="Differences">
              {problem.differences.map((d) => (
                <li key={d.field}>
                  <code>{d.field}</code> {d.message}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
      <div className="run-fork-buttons">
        <button type="submit" disabled={busy}>
          Fork
        </button>
        <button type="button" className="secondary" onClick={() => setOpen(false)} disabled={busy}>
          Cancel
        </button>
      </div>
    </form>
  );
}
