import { useEffect, useMemo, useState } from 'react';
import { get } from '../api.js';
import { Timeline } from '../components/Timeline.js';
import { WorkflowGraph } from '../components/WorkflowGraph.js';
import { stepStates } from '../dag/step-states.js';
import { subNodesOf, type SubNode } from '../dag/sub-nodes.js';
import { formatDuration } from '../dag/timeline.js';
import { href } from '../router.js';
import { RunActions } from './run/RunActions.js';
import { StepDrawer } from './run/StepDrawer.js';
import { ENDED, type WorkflowVersion } from './run/types.js';
import { useAttempts, useRunLive } from './run/useRunLive.js';
import { conversationBars, useConversations } from './run/useConversations.js';
import './run/run.css';

/** The definitions read so far: a stored workflow version never changes. */
const definitions = new Map<string, WorkflowVersion['workflow']>();

/** A ticking clock while the run goes on, so open timeline bars grow. */
function useNow(running: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    setNow(Date.now());
    if (!running) return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [running]);
  return now;
}

const NO_SUB_NODES: Readonly<Record<string, readonly SubNode[]>> = {};

/** `#/runs/<id>`: the run's DAG coloured live, its attempts waterfall, and a drawer per step. */
export function RunPage({ id }: { id: string }) {
  const { run, error, logs, mode, refresh } = useRunLive(id);
  const { attempts, more } = useAttempts(id, run?.status);
  const [definition, setDefinition] = useState<WorkflowVersion['workflow'] | null>(null);
  // Dynamic pattern steps: their turns are child tasks, read (and drawn) before any message.
  const orchestrators = useMemo(
    () => (definition?.steps ?? []).filter((s) => s.origin?.role === 'orchestrator').map((s) => s.id),
    [definition],
  );
  const conversations = useConversations(id, run?.status, orchestrators);
  const subNodes = useMemo(() => {
    // No dynamic step: the same (empty) object every time, so the graph's nodes stay as they are.
    if (orchestrators.length === 0) return NO_SUB_NODES;
    const out: Record<string, readonly SubNode[]> = {};
    for (const step of orchestrators) {
      const conversation = conversations.get(step);
      if (conversation !== undefined) out[step] = subNodesOf(conversation.toolCalls);
    }
    return out;
  }, [orchestrators, conversations]);
  const nested = useMemo(
    () => [...conversations].flatMap(([step, conversation]) => conversationBars(step, conversation)),
    [conversations],
  );
  const [selected, setSelected] = useState<string | null>(null);
  const [definitionError, setDefinitionError] = useState<string | null>(null);
  const running = run !== null && !ENDED.has(run.status);
  const now = useNow(running);

  const key = run === null ? null : `${run.workflow}@${run.version}`;
  useEffect(() => {
    if (run === null || key === null) return;
    const known = definitions.get(key);
    if (known !== undefined) return setDefinition(known);
    let live = true;
    get<WorkflowVersion>(
      `/workflows/${encodeURIComponent(run.workflow)}/versions/${encodeURIComponent(run.version)}`,
    )
      .then((w) => {
        definitions.set(key, w.workflow);
        if (live) setDefinition(w.workflow);
      })
      .catch((e: Error) => live && setDefinitionError(e.message));
    return () => void (live = false);
    // Only the workflow version matters, not every change of the run.
  }, [key]);

  const states = useMemo(() => (run === null ? {} : stepStates(run.steps, attempts)), [run, attempts]);
  const stepAttempts = useMemo(() => attempts.filter((a) => a.stepId === selected), [attempts, selected]);
  const stepLogs = useMemo(() => logs.filter((l) => l.stepId === selected), [logs, selected]);

  if (run === null)
    return error === null ? (
      <p className="muted">Loading run…</p>
    ) : (
      <p role="alert" className="error">
        {error}
      </p>
    );

  return (
    <section className={`run-page${selected === null ? '' : ' with-drawer'}`}>
      <p className="muted">
        <a href={href('runs')}>Runs</a> / {run.id}
      </p>
      <header className="run-head">
        <h1>
          {run.workflow}
          <span className="muted">@{run.version}</span>
        </h1>
        <span className={`status status-${run.status}`} data-testid="run-status">
          {run.status}
        </span>
        {run.attempt > 1 && <span className="muted">attempt {run.attempt}</span>}
        <span className="muted" title="How this page stays current">
          {mode === 'stream' ? '● live' : mode === 'poll' ? '● polling' : ''}
        </span>
        <RunActions run={run} onChanged={(next) => refresh(next)} />
      </header>
      <dl className="run-facts">
        <dt>Started</dt>
        <dd>{run.startedAt === null ? '–' : new Date(run.startedAt).toLocaleString()}</dd>
        <dt>Duration</dt>
        <dd>
          {run.durationMs !== null
            ? formatDuration(run.durationMs)
            : run.startedAt !== null && running
              ? `${formatDuration(now - Date.parse(run.startedAt))} so far`
              : '–'}
        </dd>
        <dt>Trigger</dt>
        <dd>{run.trigger?.type ?? 'manual'}</dd>
        {run.concurrencyKey != null && (
          <>
            <dt>Concurrency key</dt>
            <dd data-testid="run-concurrency-key">
              {run.concurrencyKey === '' ? '(one for the workflow)' : run.concurrencyKey}
              {run.status === 'pending' && <span className="muted"> — waiting for a slot</span>}
            </dd>
          </>
        )}
        {run.cancellationReason != null && (
          <>
            <dt>Cancelled</dt>
            <dd>
              {run.cancellationReason}
              <span className="muted"> — by {run.cancelledBy ?? 'unknown'}</span>
            </dd>
          </>
        )}
        {run.isReplay === true && (
          <>
            <dt>Forked from</dt>
            <dd data-testid="run-parent">
              {run.parentRunId == null ? (
                'a deleted run'
              ) : (
                <a href={href('runs', run.parentRunId)}>{run.parentRunId}</a>
              )}
              {run.forkedFromStep == null ? '' : ` at step ${run.forkedFromStep}`}
            </dd>
          </>
        )}
        {run.forks !== undefined && run.forks.length > 0 && (
          <>
            <dt>Forks</dt>
            <dd>
              <ul className="run-forks" aria-label="Forks">
                {run.forks.map((f) => (
                  <li key={f.id}>
                    <a href={href('runs', f.id)}>{f.id}</a>{' '}
                    <span className={`status status-${f.status}`}>{f.status}</span>
                    <span className="muted">
                      {f.fromStep === null ? '' : ` from ${f.fromStep}`}
                      {f.version == null ? '' : ` on @${f.version}`}
                    </span>
                  </li>
                ))}
              </ul>
            </dd>
          </>
        )}
        {typeof run.tokens === 'number' && (
          <>
            <dt>Tokens</dt>
            <dd>{run.tokens}</dd>
          </>
        )}
        {typeof run.cost === 'number' && (
          <>
            <dt>Cost</dt>
            <dd>${run.cost.toFixed(4)}</dd>
          </>
        )}
      </dl>
      {run.error !== null && (
        <p role="alert" className="error run-error-line">
          {run.errorStep === null ? (
            ''
          ) : (
            <button type="button" className="link" onClick={() => setSelected(run.errorStep)}>
              {run.errorStep}
            </button>
          )}
          {run.errorStep === null ? '' : ': '}
          {run.error}
        </p>
      )}
      <div className="run-body">
        <div className="run-main">
          <h2>Steps</h2>
          {definition === null ? (
            <p className="muted">{definitionError ?? 'Loading the workflow…'}</p>
          ) : (
            <WorkflowGraph
              definition={definition}
              states={states}
              onSelect={setSelected}
              selected={selected}
              subNodes={subNodes}
            />
          )}
          <h2>Timeline</h2>
          <Timeline
            attempts={attempts}
            nested={nested}
            now={now}
            onSelect={setSelected}
            selected={selected}
          />
          {more && <p className="muted">Showing the first {attempts.length} attempts.</p>}
        </div>
        {selected !== null && (
          <StepDrawer
            runId={run.id}
            stepId={selected}
            step={run.steps[selected]}
            attempts={stepAttempts}
            conversation={conversations.get(selected)}
            consensus={run.consensus?.find((c) => c.stepId === selected)}
            logs={stepLogs}
            onClose={() => setSelected(null)}
          />
        )}
      </div>
    </section>
  );
}
