import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags } from '@opentelemetry/api';
import { tracingEnabled, withSpanIds } from './sdk.js';
import { tracer } from './tracer.js';
import { formatTraceparent, parseTraceparent } from './traceparent.js';

/*
 * A run outlives the request that starts it and is ended by whichever process completes its
 * last step, so its span cannot be held open in memory. Instead, at the run's start its span's
 * ids are reserved (a span is started in the active context — the API request's — and its ids
 * kept, never ended) and stored with the run as `workflow_runs.trace_context`:
 *
 *   <traceparent of the run span> <parent span id, or -> <attempt start, epoch ms>
 *
 * Its tasks carry the traceparent (`tasks.trace_context`), so every attempt's span, in any
 * worker process, is the run span's child. When the run ends, the process that ends it records
 * the run span with those very ids (withSpanIds), its start time and parent as reserved: one
 * span from start to end, the parent of its steps, in the trace of the request that started it.
 */

/** Reserves a run span's ids under the active span; null when tracing is off (nothing stored). */
export function newRunTrace(startedAt: number = Date.now()): string | null {
  if (!tracingEnabled()) return null;
  const parent = trace.getSpanContext(context.active());
  // Never ended: an unended span is not exported; only its ids are taken.
  const reserved = tracer().startSpan('run').spanContext();
  const parentId = parent !== undefined && trace.isSpanContextValid(parent) ? parent.spanId : '-';
  return `${formatTraceparent(reserved)} ${parentId} ${startedAt}`;
}

/** The traceparent a run's tasks carry: the run span's. */
export function runTraceparent(runTrace: string): string {
  return runTrace.split(' ', 1)[0]!;
}

export interface RunSpanEnd {
  readonly runId: string;
  readonly workflowName: string;
  readonly attempt: number;
  readonly status: string;
  readonly error?: string | null;
}

/** Records the run span reserved by newRunTrace, from the attempt's start to now. */
export function endRunSpan(runTrace: string | null | undefined, end: RunSpanEnd): void {
  if (runTrace == null || !tracingEnabled()) return;
  const [traceparent = '', parentId = '-', startedAt = ''] = runTrace.split(' ');
  const reserved = parseTraceparent(traceparent);
  // An unsampled run records nothing, as its steps do not.
  if (reserved === null || (reserved.traceFlags & TraceFlags.SAMPLED) === 0) return;
  const parent =
    parentId === '-'
      ? ROOT_CONTEXT
      : trace.setSpanContext(ROOT_CONTEXT, { ...reserved, spanId: parentId, isRemote: true });
  const start = Number(startedAt);
  const span = withSpanIds({ traceId: reserved.traceId, spanId: reserved.spanId }, () =>
    tracer().startSpan(
      `run ${end.workflowName}`,
      {
        kind: SpanKind.INTERNAL,
        ...(Number.isFinite(start) && start > 0 ? { startTime: start } : {}),
        attributes: {
          'swarm.run.id': end.runId,
          'swarm.workflow.name': end.workflowName,
          'swarm.run.attempt': end.attempt,
          'swarm.run.status': end.status,
        },
      },
      parent,
    ),
  );
  if (end.status === 'completed') span.setStatus({ code: SpanStatusCode.OK });
  else span.setStatus({ code: SpanStatusCode.ERROR, message: end.error ?? end.status });
  span.end();
}
