import type { Migration } from './ddl.js';

/**
 * Where a run's trace travels between processes (docs/telemetry.md), null unless tracing was on
 * (OTEL_EXPORTER_OTLP_ENDPOINT) when it was written:
 *
 * - `workflow_runs.trace_context`: the run span's W3C `traceparent`, the span id of its parent
 *   (the API request that started it, or `-`) and when the attempt started (epoch ms), so that
 *   whichever process ends the run records its span under the ids its steps already point at.
 * - `tasks.trace_context`: the run span's `traceparent`, read with the claim: the worker makes
 *   each attempt's span a child of it.
 *
 * Neither is indexed: both are only read with rows found by other means.
 */
export const traceContext: Migration = {
  version: 15,
  name: 'trace-context',
  async up(db, dialect) {
    await db.schema.alterTable('workflow_runs').addColumn('trace_context', dialect.type('text')).execute();
    await db.schema.alterTable('tasks').addColumn('trace_context', dialect.type('text')).execute();
  },
};
