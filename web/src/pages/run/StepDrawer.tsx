import { useEffect, useMemo, useState } from 'react';
import { get } from '../../api.js';
import { StoredValue } from '../../components/StoredValue.js';
import { formatDuration } from '../../dag/timeline.js';
import { href } from '../../router.js';
import { useCan } from '../../session.js';
import { ConsensusPanel } from './ConsensusPanel.js';
import { ForkPanel } from './ForkPanel.js';
import { Conversation } from './Conversation.js';
import type { Attempt, ConsensusView, LogLine, StepConversation, StepView } from './types.js';

interface Message {
  readonly id: string;
  readonly taskId: string | null;
  readonly sender: string | null;
  readonly recipient: string | null;
  readonly type: string;
  readonly content: unknown;
  readonly metadata: Record<string, unknown>;
  readonly createdAt: string;
}
interface Artifact {
  readonly id: string;
  readonly taskId: string | null;
  readonly name: string | null;
  readonly contentType: string | null;
  readonly sizeBytes: number | null;
}

export interface StepDrawerProps {
  readonly runId: string;
  readonly stepId: string;
  readonly step: StepView | undefined;
  /** This step's attempts (every task of it, every run attempt). */
  readonly attempts: readonly Attempt[];
  /** This step's log lines so far (they keep coming while the run goes on). */
  readonly logs: readonly LogLine[];
  /** An agent step's conversation (its model and tool calls), when it has one. */
  readonly conversation?: StepConversation | undefined;
  /** A consensus step's recorded decision, once made. */
  readonly consensus?: ConsensusView | undefined;
  readonly onClose: () => void;
}

const json = (value: unknown) => JSON.stringify(value, null, 2);
const SHOWN_LOGS = 500;

/** A step of a run: its state, input and output, error, attempts, live logs, messages, artifacts. */
export function StepDrawer({
  runId,
  stepId,
  step,
  attempts,
  logs,
  conversation,
  consensus,
  onClose,
}: StepDrawerProps) {
  const canReadTasks = useCan('tasks:read');
  const [input, setInput] = useState<{ value: unknown } | null>(null);
  const [messages, setMessages] = useState<Message[]>([]);
  const [artifacts, setArtifacts] = useState<Artifact[]>([]);
  const taskIds = useMemo(() => new Set(attempts.map((a) => a.taskId)), [attempts]);
  // The input of the step's current task (its first item, for a fan-out).
  const current = attempts.find((a) => a.runAttempt === null || a.runAttempt === undefined) ?? attempts[0];
  const currentTask = current?.taskId;

  useEffect(() => {
    setInput(null);
    if (currentTask === undefined || !canReadTasks) return;
    let live = true;
    get<{ input: unknown }>(`/tasks/${encodeURIComponent(currentTask)}`)
      .then((t) => live && setInput({ value: t.input }))
      .catch(() => undefined);
    return () => void (live = false);
  }, [currentTask, canReadTasks]);

  useEffect(() => {
    let live = true;
    const id = encodeURIComponent(runId);
    get<{ items: Message[] }>(`/runs/${id}/messages`)
      .then((r) => live && setMessages(r.items))
      .catch(() => undefined);
    get<{ items: Artifact[] }>(`/runs/${id}/artifacts`)
      .then((r) => live && setArtifacts(r.items))
      .catch(() => undefined);
    return () => void (live = false);
  }, [runId, stepId, step?.status]);

  // The conversation's turns are shown as a chat, not here.
  const stepMessages = messages.filter(
    (m) => m.taskId !== null && taskIds.has(m.taskId) && m.metadata.conversation !== true,
  );
  const stepArtifacts = artifacts.filter((a) => a.taskId !== null && taskIds.has(a.taskId));
  const shownLogs = logs.slice(-SHOWN_LOGS);
  const error = step?.error ?? attempts.findLast((a) => a.error !== null)?.error ?? null;

  return (
    <aside className="run-drawer card" aria-label={`Step ${stepId}`} data-testid="step-drawer">
      <header className="run-drawer-head">
        <h2>{stepId}</h2>
        <span className={`status status-${step?.status ?? 'pending'}`}>{step?.status ?? 'pending'}</span>
        <button type="button" className="secondary" onClick={onClose} aria-label="Close step">
          ✕
        </button>
      </header>
      <dl className="run-facts">
        {step?.agent_version !== undefined && (
          <>
            <dt>Agent version</dt>
            <dd>{step.agent_version}</dd>
          </>
        )}
        {step?.items !== undefined && (
          <>
            <dt>Items</dt>
            <dd>
              {step.items.done}/{step.items.total} done
            </dd>
          </>
        )}
        {step?.started_at !== undefined && (
          <>
            <dt>Started</dt>
            <dd>{new Date(step.started_at).toLocaleString()}</dd>
          </>
        )}
        {step?.started_at !== undefined && step.completed_at !== undefined && (
          <>
            <dt>Took</dt>
            <dd>{formatDuration(Date.parse(step.completed_at) - Date.parse(step.started_at))}</dd>
          </>
        )}
        {step?.reused_from !== undefined && (
          <>
            <dt>Reused from</dt>
            <dd>
              <a href={href('runs', step.reused_from)}>{step.reused_from}</a> (not run again)
            </dd>
          </>
        )}
      </dl>
      <ForkPanel key={`${runId}/${stepId}`} runId={runId} stepId={stepId} />
      {error !== null && (
        <section>
          <h3>Error</h3>
          <pre className="run-error" role="alert">
            {error}
          </pre>
        </section>
      )}
      {consensus !== undefined && <ConsensusPanel consensus={consensus} />}
      {input !== null && (
        <section>
          <h3>Input</h3>
          <StoredValue value={input.value} />
        </section>
      )}
      {step?.output !== undefined && step.output !== null && (
        <section>
          <h3>Output</h3>
          <StoredValue value={step.output} />
        </section>
      )}
      {conversation !== undefined && conversation.turns.length > 0 && (
        <Conversation conversation={conversation} />
      )}
      <section>
        <h3>Attempts ({attempts.length})</h3>
        {attempts.length === 0 ? (
          <p className="muted">None yet.</p>
        ) : (
          <table className="table run-attempts">
            <thead>
              <tr>
                <th>#</th>
                <th>Status</th>
                <th>Started</th>
                <th>Ran</th>
                <th>Worker</th>
              </tr>
            </thead>
            <tbody>
              {attempts.slice(0, 200).map((a) => (
                <tr key={`${a.taskId}#${a.attempt}`}>
                  <td>
                    {a.itemIndex === null ? '' : `[${a.itemIndex}] `}
                    {a.attempt}
                    {a.runAttempt === null || a.runAttempt === undefined ? '' : ` (run #${a.runAttempt})`}
                  </td>
                  <td>
                    <span className={`status status-${a.status}`}>{a.status}</span>
                    {a.error !== null && <div className="error">{a.error}</div>}
                  </td>
                  <td>{a.startedAt === null ? '–' : new Date(a.startedAt).toLocaleTimeString()}</td>
                  <td>
                    {a.startedAt === null || a.completedAt === null
                      ? '–'
                      : formatDuration(Date.parse(a.completedAt) - Date.parse(a.startedAt))}
                  </td>
                  <td className="muted">{a.workerId ?? '–'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section>
        <h3>Logs ({logs.length})</h3>
        {shownLogs.length === 0 ? (
          <p className="muted">No log lines yet.</p>
        ) : (
          <ol className="run-logs" aria-label="Logs">
            {shownLogs.map((l) => (
              <li key={l.id} className={`log-${l.level}`}>
                <time>{new Date(l.time).toLocaleTimeString()}</time> <b>{l.level}</b> {l.message}
              </li>
            ))}
          </ol>
        )}
      </section>
      {stepMessages.length > 0 && (
        <section>
          <h3>Messages ({stepMessages.length})</h3>
          <ol className="run-logs">
            {stepMessages.map((m) => (
              <li key={m.id}>
                <b>{m.type}</b> {m.sender ?? '?'} → {m.recipient ?? '*'}: <code>{json(m.content)}</code>
              </li>
            ))}
          </ol>
        </section>
      )}
      {stepArtifacts.length > 0 && (
        <section>
          <h3>Artifacts</h3>
          <ul>
            {stepArtifacts.map((a) => (
              <li key={a.id}>
                <a href={`/api/v1/artifacts/${encodeURIComponent(a.id)}/content`} download={a.name ?? a.id}>
                  {a.name ?? a.id}
                </a>{' '}
                <span className="muted">
                  {a.contentType ?? ''} {a.sizeBytes === null ? '' : `${a.sizeBytes} B`}
                </span>
              </li>
            ))}
          </ul>
        </section>
      )}
    </aside>
  );
}
