import { useMemo } from 'react';
import { formatDuration, layoutTimeline, type AttemptLike, type NestedBar } from '../dag/timeline.js';
import { VirtualRows } from './VirtualRows.js';
import './timeline.css';

export interface TimelineProps {
  readonly attempts: readonly AttemptLike[];
  /** Agent loops' model and tool calls, drawn under their steps. */
  readonly nested?: readonly NestedBar[];
  /** The moment open bars run to (pass a ticking clock for a live run). */
  readonly now: number;
  /** Called with the step id of a clicked bar. */
  readonly onSelect?: (stepId: string) => void;
  readonly selected?: string | null;
  /** Visible height in pixels; more rows scroll (only those in view are drawn). @default 320 */
  readonly height?: number;
}

const ROW_HEIGHT = 22;
const pct = (f: number) => `${(f * 100).toFixed(3)}%`;

/** The waterfall of a run's attempts: queued time light, running time solid, one row per attempt. */
export function Timeline({
  attempts,
  nested = [],
  now,
  onSelect,
  selected = null,
  height = 320,
}: TimelineProps) {
  const layout = useMemo(() => layoutTimeline(attempts, now, nested), [attempts, now, nested]);
  if (layout.rows.length === 0) return <p className="muted">No attempts yet.</p>;
  return (
    <div className="tl" data-testid="timeline">
      <div className="tl-axis" aria-hidden="true">
        <span className="tl-name" />
        <span className="tl-track">
          {layout.ticks.map((t) => (
            <span key={t.x} className="tl-tick" style={{ left: pct(t.x) }}>
              {t.label}
            </span>
          ))}
        </span>
      </div>
      <VirtualRows
        count={layout.rows.length}
        rowHeight={ROW_HEIGHT}
        height={height}
        label="Attempts"
        row={(i) => {
          const r = layout.rows[i]!;
          const title = `${r.label}: ${r.status}; queued ${formatDuration(r.queuedMs)}${
            r.runningMs === null ? '' : `, ran ${formatDuration(r.runningMs)}`
          }${r.open ? ' (so far)' : ''}`;
          return (
            <button
              type="button"
              className={`tl-row${r.stepId === selected ? ' tl-selected' : ''}${r.depth === 1 ? ' tl-nested' : ''}`}
              title={title}
              data-step={r.stepId}
              data-status={r.status}
              data-kind={r.kind}
              onClick={() => onSelect?.(r.stepId)}
            >
              <span className="tl-name">{r.label}</span>
              <span className="tl-track">
                <span className="tl-queued" style={{ left: pct(r.queued.x), width: pct(r.queued.w) }} />
                {r.running !== null && (
                  <span
                    className={`tl-running tl-${r.status}${r.depth === 1 ? ` tl-${r.kind}` : ''}`}
                    style={{ left: pct(r.running.x), width: `max(2px, ${pct(r.running.w)})` }}
                  />
                )}
              </span>
            </button>
          );
        }}
      />
    </div>
  );
}
