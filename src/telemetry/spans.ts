import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import { tracingEnabled } from './sdk.js';
import { tracer } from './tracer.js';
import { parseTraceparent } from './traceparent.js';

/** What an attempt's span is made of: the claimed task. */
export interface TracedTask {
  readonly id: string;
  readonly runId: string | null;
  readonly stepId: string | null;
  readonly itemIndex: number | null;
  readonly taskType: string;
  readonly attempt: number;
  readonly agent: { readonly name: string; readonly version: string | null } | null;
  readonly capability: string | null;
  /** The run span's traceparent (tasks.trace_context). */
  readonly traceContext?: string;
}

/** One attempt of a task on a worker, as a span. */
export interface AttemptSpan {
  /** Runs `work` with the attempt's span active: spans made in it (LLM calls) are its children. */
  run<T>(work: () => T): T;
  /** The agent that runs it (routing may pick it). */
  agent(name: string, version: string): void;
  /** How the attempt ended: completed, failed (with its error), sleeping. */
  ended(status: string, failure?: { error: string; retryable: boolean }): void;
  end(): void;
}

/**
 * The span of a task's attempt, `step <id>` (`task <type>` for a standalone task), a child of its
 * run's span when the task carries the run's trace context — wherever the run was started. Null
 * with tracing off: the worker then does nothing for it.
 */
export function startAttemptSpan(task: TracedTask): AttemptSpan | null {
  if (!tracingEnabled()) return null;
  const parent = task.traceContext === undefined ? null : parseTraceparent(task.traceContext);
  const base = parent === null ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, parent);
  const span = tracer().startSpan(
    task.stepId === null ? `task ${task.taskType}` : `step ${task.stepId}`,
    {
      // Taken off a queue, possibly in another process than the one that put it there.
      kind: SpanKind.CONSUMER,
      attributes: {
        'swarm.task.id': task.id,
        'swarm.task.attempt': task.attempt,
        ...(task.runId === null ? {} : { 'swarm.run.id': task.runId }),
        ...(task.stepId === null ? {} : { 'swarm.step.id': task.stepId }),
        ...(task.itemIndex === null ? {} : { 'swarm.step.item_index': task.itemIndex }),
        ...(task.agent === null ? {} : { 'swarm.agent.name': task.agent.name }),
        ...(task.capability === null ? {} : { 'swarm.capability': task.capability }),
      },
    },
    base,
  );
  const active = trace.setSpan(base, span);
  let status: string | null = null;
  return {
    run: (work) => context.with(active, work),
    agent: (name, version) =>
      span.setAttributes({ 'swarm.agent.name': name, 'swarm.agent.version': version }),
    ended(to, failure) {
      status = to;
      span.setAttribute('swarm.task.status', to);
      if (failure === undefined) return;
      span.setAttribute('swarm.task.retryable', failure.retryable);
      span.setStatus({ code: SpanStatusCode.ERROR, message: failure.error });
    },
    end() {
      // No end reported: the attempt was cancelled, or its lease lost, under it.
      if (status === null) span.setAttribute('swarm.task.status', 'aborted');
      span.end();
    },
  };
}

/** One call to an LLM provider, as a span with the GenAI semantic conventions. */
export interface LlmSpan {
  replied(reply: { model: string | null; inputTokens: number; outputTokens: number }): void;
  failed(error: unknown): void;
  end(): void;
}

/**
 * `chat <model>`, a CLIENT span under the active one (the attempt's), with the GenAI semantic
 * conventions' attributes (gen_ai.*). Null with tracing off.
 */
export function startLlmSpan(call: {
  /** The provider's kind (openai, anthropic, …): gen_ai.provider.name. */
  readonly provider: string;
  /** The owner's name for the provider entry. */
  readonly providerName: string;
  readonly model: string;
  readonly url: URL;
}): LlmSpan | null {
  if (!tracingEnabled()) return null;
  const port = call.url.port === '' ? (call.url.protocol === 'https:' ? 443 : 80) : Number(call.url.port);
  const span: Span = tracer().startSpan(`chat ${call.model}`, {
    kind: SpanKind.CLIENT,
    attributes: {
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': call.provider,
      'gen_ai.request.model': call.model,
      'server.address': call.url.hostname,
      'server.port': port,
      'swarm.llm.provider': call.providerName,
    },
  });
  return {
    replied(reply) {
      span.setAttributes({
        'gen_ai.response.model': reply.model ?? call.model,
        'gen_ai.usage.input_tokens': reply.inputTokens,
        'gen_ai.usage.output_tokens': reply.outputTokens,
      });
    },
    failed(error) {
      const code = (error as { code?: unknown }).code;
      span.setAttribute('error.type', typeof code === 'string' ? code : (error as Error).name || 'Error');
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
    },
    end: () => span.end(),
  };
}
