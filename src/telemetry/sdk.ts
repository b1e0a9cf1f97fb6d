import { context, diag, propagation, trace } from '@opentelemetry/api';
import { SWARM_VERSION } from '../version/index.js';

/** Where spans go and under which service name; null: tracing is off. */
export interface TracingSettings {
  /** The OTLP/HTTP traces URL (`…/v1/traces`). */
  readonly url: string;
  readonly serviceName: string;
}

/**
 * Tracing is on when an OTLP endpoint is set (the OpenTelemetry variables, so any collector's
 * instructions apply): OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is the traces URL as is,
 * OTEL_EXPORTER_OTLP_ENDPOINT a base URL that `/v1/traces` is added to. OTEL_SDK_DISABLED=true
 * turns it off whatever is set.
 */
export function tracingSettings(env: NodeJS.ProcessEnv): TracingSettings | null {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return null;
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  const url = traces || (base ? `${base.replace(/\/+$/, '')}/v1/traces` : '');
  if (url === '') return null;
  return { url, serviceName: env.OTEL_SERVICE_NAME?.trim() || 'swarm' };
}

/** Ids the next span takes instead of random ones (see withSpanIds). */
interface ForcedIds {
  readonly traceId: string;
  readonly spanId: string;
}

interface Active {
  /** Set for the duration of one synchronous startSpan (withSpanIds). */
  forced: ForcedIds | null;
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

let active: Active | null = null;

/**
 * Whether spans are recorded in this process. Callers check it before doing any work for a span
 * (reading a context, formatting ids): with tracing off they do nothing at all, not even the API's
 * no-op calls.
 */
export function tracingEnabled(): boolean {
  return active !== null;
}

/**
 * Starts recording spans when `env` sets an OTLP endpoint: the SDK and the exporter are loaded
 * here (dynamic import) and nowhere else, so a process without the endpoint never loads them.
 * Returns what flushes and stops it (a no-op when tracing is off). Call before building the
 * server, so its HTTP hooks are installed (registerHttpTracing checks tracingEnabled).
 */
export async function startTracing(env: NodeJS.ProcessEnv): Promise<() => Promise<void>> {
  const settings = tracingSettings(env);
  if (settings === null || active !== null) return async () => {};
  const [
    { NodeTracerProvider, BatchSpanProcessor, RandomIdGenerator },
    { OTLPTraceExporter },
    resources,
    semconv,
  ] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/semantic-conventions'),
  ]);
  const random = new RandomIdGenerator();
  const state: Active = {
    forced: null,
    flush: async () => {},
    shutdown: async () => {},
  };
  const provider = new NodeTracerProvider({
    resource: resources.resourceFromAttributes({
      [semconv.ATTR_SERVICE_NAME]: settings.serviceName,
      [semconv.ATTR_SERVICE_VERSION]: SWARM_VERSION,
    }),
    // Random ids, except for the one span a run's end records under the ids its start reserved.
    idGenerator: {
      generateTraceId: () => state.forced?.traceId ?? random.generateTraceId(),
      generateSpanId: () => state.forced?.spanId ?? random.generateSpanId(),
    },
    // Batches (OTEL_BSP_* variables honoured): a span costs the request nothing but a push.
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: settings.url }))],
  });
  // The global tracer provider, AsyncLocalStorage context and W3C trace-context propagator.
  provider.register();
  state.flush = () => provider.forceFlush();
  state.shutdown = async () => {
    await provider.shutdown();
    // Back to the no-op API: a later startTracing (tests) registers afresh.
    trace.disable();
    context.disable();
    propagation.disable();
    diag.disable();
  };
  active = state;
  return async () => {
    if (active !== state) return;
    active = null;
    await state.shutdown();
  };
}

/** Exports the spans ended so far (tests; the batch processor otherwise sends every few seconds). */
export async function flushTracing(): Promise<void> {
  await active?.flush();
}

/**
 * Runs `start` (which must start exactly one span, synchronously) with the SDK handing out these
 * ids: how a run's span, reserved when the run started, is recorded by the process that ends it.
 * The trace id is used only for a span without a parent (the SDK takes the parent's otherwise).
 */
export function withSpanIds<T>(ids: ForcedIds, start: () => T): T {
  if (active === null) return start();
  const state = active;
  state.forced = ids;
  try {
    return start();
  } finally {
    state.forced = null;
  }
}
