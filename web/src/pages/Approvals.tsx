import { useEffect, useState } from 'react';
import { api, ApiError, get, query } from '../api.js';
import { errorText, formatTime } from '../components/admin-format.js';
import { SchemaForm } from '../components/SchemaForm.js';
import { useAdminLoad } from '../components/useAdminLoad.js';
import type { JsonSchema } from '../lib/run-input.js';
import { initialValue, pruneEmpty, type FieldErrors } from '../lib/schema-form.js';
import { href } from '../router.js';
import { useCan } from '../session.js';
import './approvals.css';

interface ApprovalView {
  readonly id: string;
  readonly runId: string | null;
  readonly workflowName: string | null;
  readonly stepId: string | null;
  readonly message: string;
  readonly data: unknown;
  readonly form: JsonSchema | null;
  readonly approvers: { users?: string[]; roles?: string[] } | null;
  readonly timeoutAt: string | null;
  readonly status: 'waiting' | 'resolved' | 'timed_out' | 'cancelled';
  readonly decision: 'approve' | 'reject' | null;
  readonly comment: string | null;
  readonly decidedBy: { id: string | null; email: string | null; via: string } | null;
  readonly decidedAt: string | null;
  readonly createdAt: string;
  readonly canDecide: boolean;
}

interface ApprovalPage {
  readonly items: ApprovalView[];
}

/** Said when an approval was decided here, so the badge counts again at once. */
const CHANGED = 'swarm:approvals-changed';
const POLL_MS = 5000;

/** The approvals inbox: steps waiting for a person, decided here with an optional form and comment. */
export function ApprovalsPage() {
  const [showAll, setShowAll] = useState(false);
  const { data, error, reload } = useAdminLoad(
    () => get<ApprovalPage>(`/approvals${query({ limit: 200, status: showAll ? 'all' : 'waiting' })}`),
    showAll ? 'all' : 'waiting',
    POLL_MS,
  );
  return (
    <section>
      <h1>Approvals</h1>
      <div className="approvals-toolbar">
        <label>
          <input type="checkbox" checked={showAll} onChange={(e) => setShowAll(e.target.checked)} /> Show
          decided
        </label>
      </div>
      {error !== null && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {data === null ? (
        <p className="muted">Loading…</p>
      ) : data.items.length === 0 ? (
        <p className="muted">{showAll ? 'No approvals yet.' : 'Nothing waits for a decision.'}</p>
      ) : (
        <ul className="approvals" aria-label="Approvals">
          {data.items.map((a) => (
            <li key={a.id}>
              <ApprovalCard approval={a} onDecided={reload} />
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function ApprovalCard({ approval: a, onDecided }: { approval: ApprovalView; onDecided: () => void }) {
  const canWrite = useCan('runs:write');
  const [value, setValue] = useState<unknown>(() => (a.form === null ? undefined : initialValue(a.form)));
  const [comment, setComment] = useState('');
  const [errors, setErrors] = useState<FieldErrors>({});
  const [problem, setProblem] = useState<string | null>(null);
  const [sending, setSending] = useState(false);

  async function decide(decision: 'approve' | 'reject') {
    setSending(true);
    setProblem(null);
    setErrors({});
    try {
      await api('POST', `/approvals/${encodeURIComponent(a.id)}`, {
        decision,
        ...(comment.trim() === '' ? {} : { comment }),
        ...(a.form === null || decision === 'reject' ? {} : { data: pruneEmpty(value) ?? {} }),
      });
      window.dispatchEvent(new Event(CHANGED));
      onDecided();
    } catch (e) {
      const problems = e instanceof ApiError ? (e.problem.errors ?? []) : [];
      // The form's fields come back as `data.<path>`.
      const fields: FieldErrors = {};
      for (const { field, message } of problems)
        if (field === 'data' || field.startsWith('data.')) fields[field.slice('data.'.length)] = message;
      setErrors(fields);
      setProblem(errorText(e));
    } finally {
      setSending(false);
    }
  }

  const where = [a.workflowName, a.stepId].filter((x) => x !== null).join(' · ');
  const waiting = a.status === 'waiting';
  return (
    <article className="approval" aria-label={`Approval: ${a.message}`} data-approval={a.id}>
      <header>
        <span className="muted">
          {where}
          {a.runId !== null && (
            <>
              {' '}
              · <a href={href('runs', a.runId)}>run {a.runId.slice(0, 8)}…</a>
            </>
          )}{' '}
          · asked {formatTime(a.createdAt)}
          {a.timeoutAt !== null && waiting && <> · decide before {formatTime(a.timeoutAt)}</>}
        </span>
        <span className={`status approval-${a.status}`}>{label(a)}</span>
      </header>
      <p className="approval-message">{a.message}</p>
      {a.data !== null && <pre className="approval-data">{JSON.stringify(a.data, null, 2)}</pre>}
      {waiting && a.canDecide && canWrite ? (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void decide('approve');
          }}
          noValidate
          aria-label="Decision"
        >
          {a.form !== null && (
            <SchemaForm schema={a.form} value={value} onChange={setValue} errors={errors} />
          )}
          <label className="approval-comment">
            Comment
            <textarea rows={2} value={comment} onChange={(e) => setComment(e.target.value)} />
          </label>
          {problem !== null && (
            <p role="alert" className="error">
              {problem}
            </p>
          )}
          <div className="approval-buttons">
            <button type="submit" className="primary" disabled={sending}>
              Approve
            </button>
            <button type="button" disabled={sending} onClick={() => void decide('reject')}>
              Reject
            </button>
          </div>
        </form>
      ) : waiting ? (
        <p className="muted">Only {describeApprovers(a)} may decide this.</p>
      ) : (
        <p className="muted">
          {a.comment !== null && <>“{a.comment}” </>}
          {a.decidedAt !== null && <>({formatTime(a.decidedAt)})</>}
        </p>
      )}
    </article>
  );
}

function label(a: ApprovalView): string {
  if (a.status === 'resolved') {
    const by = a.decidedBy?.via === 'link' ? 'a signed link' : (a.decidedBy?.email ?? a.decidedBy?.id ?? '?');
    return `${a.decision === 'approve' ? 'approved' : 'rejected'} by ${by}`;
  }
  return a.status.replace('_', ' ');
}

function describeApprovers(a: ApprovalView): string {
  const parts = [...(a.approvers?.users ?? []), ...(a.approvers?.roles ?? []).map((r) => `${r}s`)];
  return parts.length === 0 ? 'the owner' : `the owner and ${parts.join(', ')}`;
}

/** How many approvals the user may decide now, next to the nav entry. */
export function ApprovalsBadge() {
  const [count, setCount] = useState<number | null>(null);
  useEffect(() => {
    let stopped = false;
    const load = () =>
      get<ApprovalPage>(`/approvals${query({ limit: 200, status: 'waiting' })}`)
        .then((page) => {
          if (!stopped) setCount(page.items.filter((a) => a.canDecide).length);
        })
        .catch(() => undefined);
    void load();
    const timer = setInterval(() => void load(), POLL_MS);
    window.addEventListener(CHANGED, load);
    return () => {
      stopped = true;
      clearInterval(timer);
      window.removeEventListener(CHANGED, load);
    };
  }, []);
  if (count === null || count === 0) return null;
  return (
    <span className="nav-badge" aria-label={`${count} approvals waiting`} data-testid="approvals-badge">
      {count}
    </span>
  );
}
