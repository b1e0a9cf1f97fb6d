/**
 * The `llm` runtime: one chat call to the provider an agent names, built from its system prompt,
 * model and parameters (overridden by `agent_configurations` for the run's workflow) and the
 * step's input; the reply becomes the step's output. Usage (tokens, cost) is recorded per call.
 * See docs/runtimes.md § LLM agents.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { SwarmError } from '../../errors/index.js';
import { Redactor } from '../../secrets/index.js';
import type {
  AgentConfigurationRecord,
  LlmProviderRecord,
  LlmUsage,
  ProviderRateLimits,
  SpendLimit,
} from '../../storage/index.js';
import {
  MAX_WAIT_TIMEOUT_MS,
  parseDuration,
  toolNameOf,
  type LlmFallback,
  type LlmToolSpec,
} from '../../registry/index.js';
import { answeredCost, costAt, priceOf } from './prices.js';
import {
  checkBudgets,
  estimateInputTokens,
  minuteOf,
  ProviderWait,
  rateLimitsOf,
  retryAfterMs,
  type BudgetRaises,
} from './spending.js';
import type { BudgetPolicy } from './budget-ask.js';
import { RuntimeError } from '../errors.js';
import type { AgentInvocation, HttpPolicy, Runtime, RuntimeContext } from '../types.js';
import { bareHost } from '../host-guard.js';
import { allowProviderHint } from './providers.js';
import { describeUrl, postJson } from './transport.js';
import {
  buildRequest,
  DEFAULT_BASE_URLS,
  errorMessage,
  parseReply,
  type ChatMessage,
  type LlmCall,
} from './wire.js';
import { recordUsageMetrics } from '../../metrics/index.js';
import { startLlmSpan } from '../../telemetry/index.js';
import { DEFAULT_LOOP_LIMITS, runLoop, type LoopLimits, type LoopTool } from './loop.js';
import { assertDistinctToolNames, mcpLoopTools, type McpToolLister } from './mcp-tools.js';
import {
  toolCallsOf,
  withConversation,
  type ModelCallInfo,
  type ToolCall,
  type ToolSpec,
  type Turn,
} from './tool-wire.js';

/** An agent a loop may call as a tool. */
export interface ToolAgent {
  readonly name: string;
  readonly version: string;
  readonly description?: string;
  readonly input_schema?: unknown;
}

/** The loop an `llm` runtime block asks for (it names tools), or null for one plain call. */
function loopSettings(runtime: Record<string, unknown>): { tools: LlmToolSpec[]; limits: LoopLimits } | null {
  if (!Array.isArray(runtime.tools) || runtime.tools.length === 0) return null;
  const int = (key: string, fallback: number) =>
    Number.isInteger(runtime[key]) ? (runtime[key] as number) : fallback;
  return {
    tools: runtime.tools as LlmToolSpec[],
    limits: {
      maxTurns: int('max_turns', DEFAULT_LOOP_LIMITS.maxTurns),
      maxToolCalls: int('max_tool_calls', DEFAULT_LOOP_LIMITS.maxToolCalls),
      repeatLimit: int('repeat_limit', DEFAULT_LOOP_LIMITS.repeatLimit),
      outputRetries: int('output_retries', DEFAULT_LOOP_LIMITS.outputRetries),
    },
  };
}

/**
 * runtime.on_budget and budget_approval_timeout (checked at registration; a value that no longer
 * reads as one counts as absent). For plain agents and loops alike.
 */
function budgetPolicy(runtime: Record<string, unknown>, agent: string): BudgetPolicy {
  const timeout =
    runtime.budget_approval_timeout === undefined
      ? null
      : parseDuration(runtime.budget_approval_timeout, MAX_WAIT_TIMEOUT_MS);
  return {
    onBudget: runtime.on_budget === 'ask' ? 'ask' : 'fail',
    timeoutMs: typeof timeout === 'number' ? timeout : null,
    agent,
  };
}

/** An agent without tools: one model call, its answer taken as it is (no second try). */
const PLAIN_CALL_LIMITS: LoopLimits = { ...DEFAULT_LOOP_LIMITS, maxTurns: 1, outputRetries: 0 };

/** Where the runtime finds providers and configurations, and records usage. */
export interface LlmLookup {
  /** The owner's provider `name`; with `name` undefined, the owner's default provider. */
  provider(ownerId: string, name: string | undefined): Promise<LlmProviderRecord | null>;
  configuration(
    ownerId: string,
    agent: { name: string; version: string },
    runId: string | null,
  ): Promise<AgentConfigurationRecord | null>;
  /**
   * Records a call's usage (a metrics row, the run's totals). Absent: usage goes to
   * `context.report` instead, for the worker to record.
   */
  recordUsage?(ownerId: string, usage: LlmUsage): Promise<void>;
  /**
   * The owner's agent (or builtin) `name` at the highest version `range` allows, as a loop's
   * tool: null when there is none. Absent: an agent with `tools` cannot run.
   */
  resolveAgent?(ownerId: string, name: string, range: string): Promise<ToolAgent | null>;
  /** Every cap on the next model call (budgets) with what has been spent. Absent: none. */
  spendLimits?(ownerId: string, at: { runId: string | null; stepId: string | null }): Promise<SpendLimit[]>;
  /** Takes a request of a provider's minute under its limits; false: the minute is full. */
  reserveProviderRequest?(
    ownerId: string,
    provider: string,
    minute: Date,
    limits: ProviderRateLimits,
  ): Promise<boolean>;
  addProviderTokens?(ownerId: string, provider: string, minute: Date, tokens: number): Promise<void>;
}

/** The value of the owner's (global) secret `name`: how a provider's API key is read. */
export type SecretResolver = (ownerId: string, name: string) => Promise<string>;

export interface LlmRuntimeOptions {
  providers: LlmLookup;
  secrets: SecretResolver;
  /** Where providers may be reached (allowPrivateNetworks for local ones), timeout, response size. */
  http: HttpPolicy;
  /** SWARM_LLM_ALLOWED_URLS: provider origins that may be private (a local ollama). */
  allowedUrls?: readonly string[];
  /** The tools of an owner's MCP server, for `{mcp}` tools. Absent: those cannot run. */
  mcpTools?: McpToolLister;
}

/** A provider ready to call: where, with which key, and the call with its model. */
interface Candidate {
  readonly provider: LlmProviderRecord;
  readonly base: string;
  readonly apiKey: string | null;
  readonly redactor: Redactor;
  readonly call: LlmCall;
}

/** Kinds that cannot be called without an API key. */
const KEY_REQUIRED = new Set(['openai', 'anthropic']);
const MAX_ERROR_TEXT = 500;

export class LlmRuntime implements Runtime {
  private readonly validators = new Map<string, ValidateFunction>();
  // Formats and schema strictness were checked when the agent was registered.
  private readonly ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false, logger: false });

  constructor(private readonly options: LlmRuntimeOptions) {}

  async execute(invocation: AgentInvocation, context: RuntimeContext): Promise<unknown> {
    context.signal.throwIfAborted();
    const { agent } = invocation;
    const runtime = agent.runtime;
    const who = `agent ${agent.name}@${agent.version}`;
    const providerName =
      typeof runtime.provider === 'string' && runtime.provider !== '' ? runtime.provider : undefined;
    const provider = await this.options.providers.provider(invocation.ownerId, providerName);
    if (provider === null) {
      throw new RuntimeError(
        'NOT_FOUND',
        providerName === undefined
          ? `${who}: names no LLM provider and no default provider is set`
          : `${who}: no LLM provider named "${providerName}" (set it with \`swarm llm providers set ${providerName}\`)`,
        { retryable: false, context: { provider: providerName ?? null } },
      );
    }
    if (!provider.active) {
      throw RuntimeError.forbidden(`LLM provider "${provider.name}" is inactive`, {
        provider: provider.name,
      });
    }
    const configuration = await this.options.providers.configuration(
      invocation.ownerId,
      { name: agent.name, version: agent.version },
      invocation.runId,
    );
    const call = buildCall(invocation, provider, configuration);
    const primary = await this.candidate(invocation.ownerId, provider, call);
    const fallbacks = Array.isArray(runtime.fallbacks) ? (runtime.fallbacks as LlmFallback[]) : [];
    const resolved = new Map<number, Promise<Candidate | null>>([[0, Promise.resolve(primary)]]);
    const candidate = (i: number): Promise<Candidate | null> => {
      let found = resolved.get(i);
      if (found === undefined) {
        found = this.fallback(invocation, fallbacks[i - 1]!, call, context);
        resolved.set(i, found);
      }
      return found;
    };
    // Without tools, the same loop makes one call: checkpointed and recorded like a loop's.
    const loop = loopSettings(agent.runtime) ?? { tools: [], limits: PLAIN_CALL_LIMITS };
    return runLoop(
      {
        limits: loop.limits,
        budget: budgetPolicy(runtime, `${agent.name}@${agent.version}`),
        system: call.system,
        speaker: `${agent.name}@${agent.version}`,
        initialTurns: () => call.messages.map((m) => ({ role: m.role, content: m.content })),
        resolveTools: () => this.resolveTools(invocation, loop.tools),
        callModel: async (turns, tools, index, raises) => {
          await this.checkBudgets(invocation, primary, { system: call.system, turns, tools }, raises);
          return this.callProviders(1 + fallbacks.length, candidate, invocation, context, {
            turns,
            tools,
            index,
          });
        },
        output: (text) => this.output(agent.outputSchema, text),
      },
      invocation,
      context,
    );
  }

  /** A provider ready to call: where, with which key, and the call with its model. */
  private async candidate(ownerId: string, provider: LlmProviderRecord, call: LlmCall): Promise<Candidate> {
    const base = provider.baseUrl ?? DEFAULT_BASE_URLS[provider.provider];
    if (base === null) {
      throw new RuntimeError('CONFIG_INVALID', `LLM provider "${provider.name}" has no base_url`, {
        retryable: false,
      });
    }
    const apiKey = await this.apiKey(ownerId, provider);
    const redactor =
      apiKey === null ? Redactor.none : new Redactor({ [provider.apiKeySecret ?? 'api_key']: apiKey });
    return { provider, base, apiKey, redactor, call };
  }

  /** A fallback provider, or null (logged) when it is missing, inactive or unusable. */
  private async fallback(
    invocation: AgentInvocation,
    fallback: LlmFallback,
    call: LlmCall,
    context: RuntimeContext,
  ): Promise<Candidate | null> {
    const provider = await this.options.providers.provider(invocation.ownerId, fallback.provider);
    if (provider === null || !provider.active) {
      context.log(
        'warning',
        `fallback LLM provider "${fallback.provider}" is ${provider === null ? 'not set' : 'inactive'}; skipped`,
      );
      return null;
    }
    try {
      return await this.candidate(invocation.ownerId, provider, {
        ...call,
        model: fallback.model ?? call.model,
      });
    } catch (error) {
      context.log(
        'warning',
        `fallback LLM provider "${fallback.provider}" skipped: ${(error as Error).message}`,
      );
      return null;
    }
  }

  /**
   * Refuses a model call that would pass a budget (the step's, the run's, the owner's day or
   * month), before anything is sent: its input tokens estimated, priced as the primary's.
   */
  private async checkBudgets(
    invocation: AgentInvocation,
    primary: Candidate,
    next: { system: string | undefined; turns: readonly Turn[]; tools: readonly ToolSpec[] },
    raises: BudgetRaises,
  ): Promise<void> {
    const lookup = this.options.providers.spendLimits;
    if (lookup === undefined) return;
    const limits = await lookup.call(this.options.providers, invocation.ownerId, {
      runId: invocation.runId,
      stepId: invocation.stepId,
    });
    if (limits.length === 0) return;
    const tokens = estimateInputTokens(next.system, next.turns, next.tools);
    checkBudgets(
      limits,
      { tokens, cost: costAt(priceOf(primary.provider, primary.call.model), tokens, 0) },
      raises,
    );
  }

  /**
   * The call, to the primary provider or else to each fallback in turn: one that is over its
   * rate limit for this minute, or fails in a way worth retrying, hands over to the next. When
   * none answered and some asked to be called later (their limit's next minute, a 429 or 503
   * with Retry-After), the call waits for the earliest of those (ProviderWait: the task sleeps,
   * spending no attempt); otherwise the last failure stands.
   */
  private async callProviders(
    count: number,
    candidate: (i: number) => Promise<Candidate | null>,
    invocation: AgentInvocation,
    context: RuntimeContext,
    loop: { turns: readonly Turn[]; tools: readonly ToolSpec[]; index: number },
  ): Promise<{ text: string; toolCalls: ToolCall[]; call: ModelCallInfo }> {
    const waits: { until: number; why: string }[] = [];
    let failure: unknown = null;
    for (let i = 0; i < count; i++) {
      const c = await candidate(i);
      if (c === null) continue;
      const limits = rateLimitsOf(c.provider.configuration);
      const reserve = this.options.providers.reserveProviderRequest;
      const minute = minuteOf(Date.now());
      if (limits !== null && reserve !== undefined) {
        const granted = await reserve.call(
          this.options.providers,
          invocation.ownerId,
          c.provider.name,
          minute,
          limits,
        );
        if (!granted) {
          waits.push({
            until: minute.getTime() + 60_000,
            why: `LLM provider "${c.provider.name}" is at its limit for this minute`,
          });
          continue;
        }
      }
      try {
        const reply = await this.callModel(c, c.call, invocation, context, loop);
        if (limits !== null)
          await this.options.providers.addProviderTokens
            ?.call(
              this.options.providers,
              invocation.ownerId,
              c.provider.name,
              minute,
              reply.call.inputTokens + reply.call.outputTokens,
            )
            .catch((error: unknown) =>
              context.log(
                'warning',
                `counting tokens for the rate limit failed: ${(error as Error).message}`,
              ),
            );
        return reply;
      } catch (error) {
        if (!(error instanceof RuntimeError) || !error.retryable || context.signal.aborted) throw error;
        failure = error;
        const status = error.context.status;
        const after =
          status === 429 || status === 503 ? retryAfterMs(error.context.retryAfter, Date.now()) : null;
        if (after !== null)
          waits.push({
            until: Date.now() + after,
            why: `LLM provider "${c.provider.name}" answered ${String(status)} with Retry-After`,
          });
        if (i < count - 1) context.log('warning', `${error.message}; trying the next provider`);
      }
    }
    const first = waits.sort((a, b) => a.until - b.until)[0];
    if (first !== undefined) throw new ProviderWait(new Date(first.until), first.why);
    if (failure !== null) throw failure;
    throw RuntimeError.unreachable('no LLM provider of this agent could be used (see the warnings above)');
  }

  /**
   * One model call: the request (with the loop's conversation and tools when given), its span,
   * the HTTP exchange, the reply parsed, its usage recorded. The reply's text is redacted.
   */
  private async callModel(
    model: Candidate,
    call: LlmCall,
    invocation: AgentInvocation,
    context: RuntimeContext,
    loop: { turns: readonly Turn[]; tools: readonly ToolSpec[]; index: number },
  ): Promise<{ text: string; toolCalls: ToolCall[]; call: ModelCallInfo }> {
    const { provider, base, apiKey, redactor } = model;
    const { agent } = invocation;
    const request = withConversation(
      provider.provider,
      buildRequest(provider.provider, base, apiKey, call),
      call.system,
      loop.turns,
      loop.tools,
    );
    const where = `LLM provider "${provider.name}" (${describeUrl(request.url)})`;
    // The call's span (tracing on; null otherwise), a child of the attempt's.
    const span = startLlmSpan({
      provider: provider.provider,
      providerName: provider.name,
      model: call.model,
      url: request.url,
    });
    const startedAt = new Date();
    const started = startedAt.getTime();
    let response: Awaited<ReturnType<typeof postJson>>;
    let reply: ReturnType<typeof parseReply>;
    try {
      response = await this.post(request, where, context.signal);
      if (response.status < 200 || response.status > 299) {
        throw httpError(where, response.status, response.headers, response.body, redactor);
      }
      reply = parseReply(provider.provider, response.body);
      if (reply === null) {
        throw RuntimeError.unreachable(
          `${where}: the response is not a ${provider.provider} chat completion`,
          {
            retryable: false,
            context: { provider: provider.name, status: response.status },
          },
        );
      }
      span?.replied(reply);
    } catch (error) {
      span?.failed(error);
      throw error;
    } finally {
      span?.end();
    }
    const durationMs = Date.now() - started;
    const cost =
      answeredCost(response.body) ??
      costAt(priceOf(provider, call.model), reply.inputTokens, reply.outputTokens);
    const usage: LlmUsage = {
      runId: invocation.runId,
      taskId: invocation.taskId,
      stepId: invocation.stepId,
      agent: { name: agent.name, version: agent.version },
      provider: provider.name,
      model: call.model,
      inputTokens: reply.inputTokens,
      outputTokens: reply.outputTokens,
      cost,
      durationMs,
    };
    await this.recordUsage(invocation.ownerId, usage, context);
    // A model offered no tools has no calls to make: whatever it sends as one is ignored.
    const toolCalls =
      loop.tools.length === 0
        ? []
        : toolCallsOf(provider.provider, response.body, `call_${invocation.taskId.slice(-12)}_${loop.index}`);
    return {
      text: redactor.redactText(reply.text),
      toolCalls,
      call: {
        index: loop.index,
        provider: provider.name,
        model: call.model,
        inputTokens: reply.inputTokens,
        outputTokens: reply.outputTokens,
        cost,
        startedAt: startedAt.toISOString(),
        durationMs,
      },
    };
  }

  /** A loop's tools: each agent resolved to a version now (and kept in the loop's state). */
  private async resolveTools(
    invocation: AgentInvocation,
    specs: readonly LlmToolSpec[],
  ): Promise<LoopTool[]> {
    const who = `agent ${invocation.agent.name}@${invocation.agent.version}`;
    const tools: LoopTool[] = [];
    for (const [i, spec] of specs.entries()) {
      if (spec.mcp !== undefined) {
        const where = `${who}: runtime.tools[${i}]`;
        tools.push(...(await mcpLoopTools(spec, this.options.mcpTools, invocation.ownerId, where)));
        continue;
      }
      if (spec.capability !== undefined) {
        tools.push({
          name: spec.name ?? spec.capability,
          description: spec.description ?? `Any agent with the capability ${spec.capability}`,
          inputSchema: spec.input_schema ?? { type: 'object' },
          target: {
            capability: spec.capability,
            ...(spec.routing === undefined ? {} : { routing: spec.routing }),
          },
        });
        continue;
      }
      const reference = spec.agent ?? '';
      const at = reference.lastIndexOf('@');
      const name = at > 0 ? reference.slice(0, at) : reference;
      const range = at > 0 ? reference.slice(at + 1) : '*';
      const resolve = this.options.providers.resolveAgent;
      const found =
        resolve === undefined
          ? null
          : await resolve.call(this.options.providers, invocation.ownerId, name, range);
      if (found === null) {
        throw new RuntimeError(
          'NOT_FOUND',
          `${who}: runtime.tools[${i}]: no agent ${name} matches ${range}`,
          {
            retryable: false,
            context: { tool: reference },
          },
        );
      }
      const schema = spec.input_schema ?? found.input_schema;
      tools.push({
        name: spec.name ?? toolNameOf(reference),
        description: spec.description ?? found.description ?? `The agent ${found.name}`,
        inputSchema:
          typeof schema === 'object' && schema !== null
            ? (schema as Record<string, unknown>)
            : { type: 'object' },
        target: { agentName: found.name, agentVersion: found.version },
      });
    }
    assertDistinctToolNames(tools, who);
    return tools;
  }

  /**
   * The provider call under the worker's HTTP policy; an allowed provider origin is exempt from
   * the private-address check for this call only, and a refusal names the provider and the
   * setting that allows it (not builtin/http_request's).
   */
  private async post(
    request: ReturnType<typeof buildRequest>,
    where: string,
    signal: AbortSignal,
  ): Promise<Awaited<ReturnType<typeof postJson>>> {
    const { http, allowedUrls = [] } = this.options;
    const exempt = allowedUrls.includes(request.url.origin);
    const policy = exempt
      ? { ...http, allowedHosts: [...(http.allowedHosts ?? []), bareHost(request.url.hostname)] }
      : http;
    try {
      return await postJson(request.url, request.headers, request.body, policy, signal);
    } catch (error) {
      if (error instanceof RuntimeError && error.code === 'FORBIDDEN' && error.context.reason !== undefined) {
        throw RuntimeError.forbidden(
          `${where}: refused to contact ${String(error.context.address)}, a ${String(error.context.reason)} address; ${allowProviderHint(request.url)}`,
          { ...error.context },
        );
      }
      throw error;
    }
  }

  private async apiKey(ownerId: string, provider: LlmProviderRecord): Promise<string | null> {
    if (provider.apiKeySecret === null) {
      if (!KEY_REQUIRED.has(provider.provider)) return null;
      throw RuntimeError.forbidden(
        `LLM provider "${provider.name}" has no API key: its api_key_secret is not set or the secret was removed`,
        { provider: provider.name },
      );
    }
    try {
      return await this.options.secrets(ownerId, provider.apiKeySecret);
    } catch (error) {
      if (error instanceof SwarmError) throw error;
      throw RuntimeError.unreachable(
        `reading the API key of LLM provider "${provider.name}" failed: ${(error as Error).message}`,
      );
    }
  }

  private async recordUsage(ownerId: string, usage: LlmUsage, context: RuntimeContext): Promise<void> {
    const tokens = usage.inputTokens + usage.outputTokens;
    context.log(
      'info',
      `llm ${usage.provider} ${usage.model}: ${usage.inputTokens} input + ${usage.outputTokens} output tokens, cost ${usage.cost}`,
      {
        provider: usage.provider,
        model: usage.model,
        input_tokens: usage.inputTokens,
        output_tokens: usage.outputTokens,
        cost: usage.cost,
        duration_ms: usage.durationMs,
      },
    );
    const record = this.options.providers.recordUsage;
    if (record === undefined) {
      context.report?.({
        kind: 'usage',
        tokens,
        inputTokens: usage.inputTokens,
        outputTokens: usage.outputTokens,
        cost: usage.cost,
        model: usage.model,
        provider: usage.provider,
      });
      return; // counted in the metrics where the report is taken (src/worker/reports.ts)
    }
    recordUsageMetrics(usage.provider, usage.model, usage.inputTokens, usage.outputTokens, usage.cost);
    try {
      await record.call(this.options.providers, ownerId, usage);
    } catch (error) {
      // The call happened and its answer is good: losing the record is not worth failing the step.
      context.log('warning', `recording LLM usage failed: ${(error as Error).message}`);
    }
  }

  /** `{text}`, or with an object output_schema the reply parsed as JSON and validated. */
  private output(schema: unknown, text: string): unknown {
    if (!isObjectSchema(schema)) return { text };
    let value: unknown;
    try {
      value = JSON.parse(unfence(text)) as unknown;
    } catch {
      throw RuntimeError.invalidInput(
        'output',
        `the agent's output_schema wants a JSON object, and the model replied with text that is not JSON: ${excerpt(text)}`,
      );
    }
    const key = JSON.stringify(schema);
    let validate = this.validators.get(key);
    if (validate === undefined) {
      validate = this.ajv.compile(schema);
      if (this.validators.size > 200) this.validators.clear();
      this.validators.set(key, validate);
    }
    if (validate(value)) return value;
    const issues = (validate.errors ?? []).map((error) => {
      const missing = (error.params as { missingProperty?: string }).missingProperty;
      const path = `${error.instancePath}${missing === undefined ? '' : `/${missing}`}`;
      const field = `output${path
        .split('/')
        .filter(Boolean)
        .map((p) => `.${p}`)
        .join('')}`;
      return { field, message: missing === undefined ? (error.message ?? 'is invalid') : 'is required' };
    });
    const first = issues[0] ?? { field: 'output', message: 'does not match the output_schema' };
    throw RuntimeError.invalidInput(
      first.field,
      `${first.message} (the model's reply does not match the agent's output_schema)`,
      issues.slice(1),
    );
  }
}

/** The call: agent defaults, then the workflow's configuration, then the input's messages. */
export function buildCall(
  invocation: AgentInvocation,
  provider: LlmProviderRecord,
  configuration: AgentConfigurationRecord | null,
): LlmCall {
  const runtime = invocation.agent.runtime;
  const agentModel = typeof runtime.model === 'string' && runtime.model !== '' ? runtime.model : null;
  const model = configuration?.llmModel ?? agentModel ?? provider.model;
  if (model === null) {
    throw new RuntimeError(
      'CONFIG_INVALID',
      `agent ${invocation.agent.name}@${invocation.agent.version}: no model (the agent, its configuration and provider "${provider.name}" name none)`,
      { retryable: false },
    );
  }
  const agentPrompt = typeof runtime.system_prompt === 'string' ? runtime.system_prompt : undefined;
  const agentParameters = isPlainObject(runtime.parameters) ? runtime.parameters : {};
  const { system: inputSystem, messages } = messagesOf(invocation.input);
  const prompts = [configuration?.systemPrompt ?? agentPrompt, inputSystem].filter(
    (p): p is string => p !== undefined && p !== '',
  );
  return {
    model,
    system: prompts.length === 0 ? undefined : prompts.join('\n\n'),
    messages,
    parameters: { ...agentParameters, ...(configuration?.parameters ?? {}) },
  };
}

/**
 * What the model is sent as the conversation:
 * - input `{messages: [{role, content}…]}` → those messages (`system` ones join the system prompt);
 * - input `{prompt: "…"}` → one user message with that text;
 * - a string input → one user message with it;
 * - anything else → one user message with the input as JSON.
 */
export function messagesOf(input: unknown): { system: string | undefined; messages: ChatMessage[] } {
  if (isPlainObject(input) && input.messages !== undefined) {
    if (!Array.isArray(input.messages) || input.messages.length === 0) {
      throw RuntimeError.invalidInput('input.messages', 'must be a non-empty array of {role, content}');
    }
    const system: string[] = [];
    const messages: ChatMessage[] = [];
    input.messages.forEach((message: unknown, index) => {
      const field = `input.messages[${index}]`;
      if (!isPlainObject(message) || typeof message.content !== 'string') {
        throw RuntimeError.invalidInput(field, 'must be {role, content} with a string content');
      }
      if (message.role === 'system') system.push(message.content);
      else if (message.role === 'user' || message.role === 'assistant')
        messages.push({ role: message.role, content: message.content });
      else throw RuntimeError.invalidInput(`${field}.role`, 'must be system, user or assistant');
    });
    if (messages.length === 0) throw RuntimeError.invalidInput('input.messages', 'holds no user message');
    return { system: system.length === 0 ? undefined : system.join('\n\n'), messages };
  }
  if (isPlainObject(input) && typeof input.prompt === 'string') {
    return { system: undefined, messages: [{ role: 'user', content: input.prompt }] };
  }
  if (typeof input === 'string') return { system: undefined, messages: [{ role: 'user', content: input }] };
  return { system: undefined, messages: [{ role: 'user', content: JSON.stringify(input ?? null) }] };
}

function httpError(
  where: string,
  status: number,
  headers: Record<string, string>,
  body: unknown,
  redactor: Redactor,
): RuntimeError {
  const said = errorMessage(body);
  const detail = said === null ? '' : `: ${excerpt(redactor.redactText(said))}`;
  const context: Record<string, unknown> = { status };
  const retryAfter = headers['retry-after'];
  if (retryAfter !== undefined) context.retryAfter = retryAfter;
  if (status === 429 || status === 408 || status >= 500) {
    const why = status === 429 ? 'rate limited' : status === 408 ? 'request timeout' : 'server error';
    return RuntimeError.unreachable(`${where} answered HTTP ${status} (${why})${detail}`, { context });
  }
  if (status === 401 || status === 403) {
    return new RuntimeError(
      'FORBIDDEN',
      `${where} refused the request (HTTP ${status}): check its API key secret${detail}`,
      {
        retryable: false,
        context,
      },
    );
  }
  if (status >= 300 && status < 400) {
    return new RuntimeError(
      'INTERNAL',
      `${where} answered with a redirect (HTTP ${status}), which is not followed: check its base_url`,
      {
        retryable: false,
        context,
      },
    );
  }
  return new RuntimeError('INPUT_INVALID', `${where} refused the request (HTTP ${status})${detail}`, {
    retryable: false,
    context,
  });
}

function isObjectSchema(schema: unknown): schema is Record<string, unknown> {
  return isPlainObject(schema) && schema.type === 'object';
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A reply's JSON without the Markdown fence models like to put around it. */
export function unfence(text: string): string {
  const fenced = /```(?:json|JSON)?[ \t]*\r?\n([\s\S]*?)\r?\n?```/.exec(text);
  return (fenced?.[1] ?? text).trim();
}

function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > MAX_ERROR_TEXT ? `${flat.slice(0, MAX_ERROR_TEXT)}…` : flat;
}
