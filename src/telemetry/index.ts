/**
 * OpenTelemetry traces (docs/telemetry.md). The code makes spans with `@opentelemetry/api` only;
 * the SDK and the OTLP exporter are loaded by startTracing, and only when an OTLP endpoint is
 * set. Otherwise every helper here returns at once (tracingEnabled) and nothing is stored.
 */
export { startTracing, flushTracing, tracingEnabled, tracingSettings, type TracingSettings } from './sdk.js';
export { newRunTrace, runTraceparent, endRunSpan, type RunSpanEnd } from './run-trace.js';
export { startAttemptSpan, startLlmSpan, type AttemptSpan, type LlmSpan, type TracedTask } from './spans.js';
export { registerHttpTracing } from './http.js';
export { formatTraceparent, parseTraceparent } from './traceparent.js';
