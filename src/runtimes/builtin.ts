/**
 * The `builtin` runtime: Swarm's own agents, run inside the worker process. The input is
 * checked against the agent's input_schema here, not only at workflow validation, because a
 * step's input is resolved at run time from expressions the validator could not evaluate.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { BUILTIN_AGENTS } from '../registry/index.js';
import { condition, emitEvent, noop, transform } from './basic.js';
import type { ArtifactSource, HttpConnectors } from './connectors.js';
import { approval, type ApprovalInput, type ApprovalLinkMaker } from './approval.js';
import { consensus, type ConsensusInput } from './consensus.js';
import { delay, type DelayInput } from './delay.js';
import { RuntimeError } from './errors.js';
import { httpRequest, type HttpRequestInput } from './http-request.js';
import { waitForEvent, type WaitForEventInput } from './wait-for-event.js';
import type { Mailer } from './mail.js';
import { orchestrate, type OrchestrateInput, type OrchestrationDeps } from './orchestration/index.js';
import { sendEmail, type SendEmailInput } from './send-email.js';
import { Sleep, type AgentInvocation, type HttpPolicy, type Runtime, type RuntimeContext } from './types.js';

type Handler = (input: never, invocation: AgentInvocation, context: RuntimeContext) => unknown;

// Formats are not checked here (the handlers parse what they use, e.g. the URL), and
// strictness about schemas belongs to registration, which already accepted these.
const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });

interface Compiled {
  readonly input: ValidateFunction;
  readonly output: ValidateFunction;
}
const compiled = new Map<string, Compiled>();

function schemasOf(name: string): Compiled | undefined {
  let entry = compiled.get(name);
  if (entry === undefined) {
    const manifest = BUILTIN_AGENTS.find((a) => a.runtime.type === 'builtin' && a.runtime.name === name);
    if (manifest === undefined) return undefined;
    entry = {
      input: ajv.compile(manifest.input_schema ?? true),
      output: ajv.compile(manifest.output_schema ?? true),
    };
    compiled.set(name, entry);
  }
  return entry;
}

/** What BuiltinRuntime is built with; each optional part, when absent, makes its builtin refuse. */
export interface BuiltinRuntimeOptions {
  http: HttpPolicy;
  /** How builtin/orchestrate finds agents. */
  orchestration?: OrchestrationDeps;
  /** How builtin/send_email (and an approval's notification) sends: the owner's smtp connectors. */
  mailer?: Mailer;
  /** The owner's http connectors, for builtin/http_request's `connector`. */
  connectors?: HttpConnectors;
  /** A run's artifacts, for builtin/send_email's attachments. */
  artifacts?: ArtifactSource;
  /** Makes signed approval links, for an approval's `notify` (without it, `notify` is refused). */
  approvalLinks?: ApprovalLinkMaker;
}

/** Builtins that compute their output from their input alone, at once, with no side effect. */
const PURE_BUILTINS: ReadonlySet<string> = new Set(['noop', 'transform', 'condition', 'consensus']);

export class BuiltinRuntime implements Runtime {
  private readonly http: HttpPolicy;
  private readonly handlers: Readonly<Record<string, Handler>>;

  constructor(options: BuiltinRuntimeOptions) {
    const { timeoutMs, maxResponseBytes } = options.http;
    if (
      !(Number.isInteger(timeoutMs) && timeoutMs > 0) ||
      !(Number.isInteger(maxResponseBytes) && maxResponseBytes > 0)
    ) {
      throw new RuntimeError(
        'CONFIG_INVALID',
        'HTTP policy: timeoutMs and maxResponseBytes must be positive integers',
      );
    }
    this.http = { ...options.http, allowedHosts: [...(options.http.allowedHosts ?? [])] };
    this.handlers = {
      noop: () => noop(),
      transform: (input: unknown) => transform(input),
      // Holds no worker: answers Sleep until due (see delay.ts).
      delay: (input: DelayInput, invocation, context) => delay(input, invocation, context),
      condition: (input: { value?: unknown }) => condition(input),
      emit_event: (input: { source: string; type: string; payload?: unknown }, invocation, context) =>
        emitEvent(input, invocation, context),
      consensus: (input: ConsensusInput) => consensus(input),
      // Holds no worker either: an event waitpoint the dispatcher settles (see wait-for-event.ts).
      wait_for_event: (input: WaitForEventInput, invocation, context) =>
        waitForEvent(input, invocation, context),
      http_request: async (input: HttpRequestInput, invocation, context) => {
        const { idempotencyKey } = invocation;
        if (input.connector === undefined) return httpRequest(input, this.http, context, { idempotencyKey });
        if (options.connectors === undefined)
          throw new RuntimeError(
            'INTERNAL',
            'builtin/http_request cannot use connectors: this runtime was built without them',
            {
              retryable: false,
            },
          );
        // Resolved at send time, for the task's owner only: another owner's name is not found.
        const connector = await options.connectors.http(invocation.ownerId, input.connector);
        return httpRequest(input, this.http, context, { connector, idempotencyKey });
      },
      send_email: (input: SendEmailInput, invocation, context) =>
        sendEmail(input, invocation, context, {
          ...(options.mailer === undefined ? {} : { mailer: options.mailer }),
          ...(options.artifacts === undefined ? {} : { artifacts: options.artifacts }),
        }),
      // Holds no worker while a person decides (see approval.ts).
      approval: (input: ApprovalInput, invocation, context) =>
        approval(input, invocation, context, {
          ...(options.mailer === undefined ? {} : { mailer: options.mailer }),
          ...(options.approvalLinks === undefined ? {} : { links: options.approvalLinks }),
        }),
      orchestrate: (input: OrchestrateInput, invocation, context) => {
        const deps = options.orchestration;
        if (deps === undefined)
          throw new RuntimeError(
            'INTERNAL',
            'builtin/orchestrate needs the agent registry, which this runtime was built without',
            {
              retryable: false,
            },
          );
        return orchestrate(input, invocation, context, deps);
      },
    };
  }

  async execute(invocation: AgentInvocation, context: RuntimeContext): Promise<unknown> {
    const { runtime } = invocation.agent;
    if (runtime.type !== 'builtin') {
      throw new RuntimeError('INTERNAL', `the builtin runtime cannot run a ${runtime.type} agent`);
    }
    const name = runtime.name ?? invocation.agent.name.replace(/^builtin\//, '');
    const handler = Object.hasOwn(this.handlers, name) ? this.handlers[name] : undefined;
    const schemas = schemasOf(name);
    if (handler === undefined || schemas === undefined) {
      throw RuntimeError.invalidInput('agent.runtime.name', `no builtin agent is called "${name}"`);
    }
    // An attempt aborted before it starts does not start: a pure builtin, which computes its
    // output at once and touches nothing, is exempt (the worker refuses an aborted attempt's
    // output anyway), so that it never makes the attempt's AbortSignal (see AttemptAbort).
    if (!PURE_BUILTINS.has(name)) context.signal.throwIfAborted();
    if (!schemas.input(invocation.input)) throw inputError(schemas.input.errors ?? []);
    const output = await handler(invocation.input as never, invocation, context);
    if (output instanceof Sleep) return output;
    if (!schemas.output(output)) {
      // A builtin breaking its own contract is a bug in Swarm, not in the workflow.
      throw new RuntimeError('INTERNAL', `builtin/${name} produced output that fails its output_schema`, {
        context: { errors: schemas.output.errors ?? [] },
      });
    }
    return output;
  }
}

/** Ajv's errors as field issues: `input.ms: must be integer`, `input.url: is required`. */
function inputError(errors: readonly ErrorObject[]): RuntimeError {
  const issues = errors.map((error) => {
    const path = error.instancePath
      .split('/')
      .slice(1)
      .map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'));
    const params = error.params as {
      missingProperty?: string;
      additionalProperty?: string;
      allowedValues?: unknown[];
    };
    if (error.keyword === 'required')
      return { field: ['input', ...path, params.missingProperty].join('.'), message: 'is required' };
    if (error.keyword === 'additionalProperties')
      return { field: ['input', ...path, params.additionalProperty].join('.'), message: 'unknown property' };
    const allowed = params.allowedValues === undefined ? '' : ` (${params.allowedValues.join(', ')})`;
    return { field: ['input', ...path].join('.'), message: `${error.message ?? error.keyword}${allowed}` };
  });
  const [first, ...more] = issues;
  return first === undefined
    ? RuntimeError.invalidInput('input', 'does not match the input schema')
    : RuntimeError.invalidInput(first.field, first.message, more);
}
