/**
 * The `builtin` runtime: Swarm's own agents, run inside the worker process. The input is
 * checked against the agent's input_schema here, not only at workflow validation, because a
 * step's input is resolved at run time from expressions the validator could not evaluate.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { BUILTIN_AGENTS } from '../registry/index.js';
import { condition, emitEvent, noop, transform } from './basic.js';
import { approval, type ApprovalInput, type ApprovalLinkMaker } from './approval.js';
import { consensus, type ConsensusInput } from './consensus.js';
import { delay, type DelayInput } from './delay.js';
import { RuntimeError } from './errors.js';
import { httpRequest, type HttpRequestInput } from './http-request.js';
import type { Mailer } from './mail.js';
import { orchestrate, type OrchestrateInput, type OrchestrationDeps } from './orchestration/index.js';
import { Sleep, type AgentInvocation, type HttpPolicy, type Runtime, type RuntimeContext } from './types.js';

type Handler = (input: never, invocation: AgentInvocation, context: RuntimeContext) => unknown;

/**
 * Agents Swarm declares but does not run yet, with the reason. They are refused, not faked:
 * pretending to send an email or to have been approved would be worse than failing.
 */
export const UNAVAILABLE_BUILTINS: Readonly<Record<string, string>> = {
  send_email: 'sending email needs SMTP connectors, which this version of Swarm does not have yet',
};

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

export class BuiltinRuntime implements Runtime {
  private readonly http: HttpPolicy;
  private readonly handlers: Readonly<Record<string, Handler>>;

  /**
   * `orchestration`: how builtin/orchestrate finds agents (absent: it refuses to run).
   * `mailer`: sends email through the owner's SMTP connectors; `approvalLinks`: makes signed
   * approval links. Without them, an approval's `notify` is refused.
   */
  constructor(options: {
    http: HttpPolicy;
    orchestration?: OrchestrationDeps;
    mailer?: Mailer;
    approvalLinks?: ApprovalLinkMaker;
  }) {
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
      delay: (input: DelayInput, invocation, context) => delay(input, invocation, context.log),
      condition: (input: { value?: unknown }) => condition(input),
      emit_event: (input: { source: string; type: string; payload?: unknown }, invocation, context) =>
        emitEvent(input, invocation, context),
      consensus: (input: ConsensusInput) => consensus(input),
      // Holds no worker while a person decides (see approval.ts).
      approval: (input: ApprovalInput, invocation, context) =>
        approval(input, invocation, context, {
          ...(options.mailer === undefined ? {} : { mailer: options.mailer }),
          ...(options.approvalLinks === undefined ? {} : { links: options.approvalLinks }),
        }),
      http_request: (input: HttpRequestInput, _inv, context) => httpRequest(input, this.http, context),
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
    const unavailable = Object.hasOwn(UNAVAILABLE_BUILTINS, name) ? UNAVAILABLE_BUILTINS[name] : undefined;
    if (unavailable !== undefined) {
      // 501: a known agent this Swarm cannot run; retrying will not change that.
      throw new RuntimeError('INTERNAL', `builtin/${name} is not available: ${unavailable}`, {
        status: 501,
        retryable: false,
        context: { builtin: name },
      });
    }
    const handler = Object.hasOwn(this.handlers, name) ? this.handlers[name] : undefined;
    const schemas = schemasOf(name);
    if (handler === undefined || schemas === undefined) {
      throw RuntimeError.invalidInput('agent.runtime.name', `no builtin agent is called "${name}"`);
    }
    context.signal.throwIfAborted();
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
