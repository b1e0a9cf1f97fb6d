/**
 * What every dynamic pattern shares: its input as builtin/orchestrate receives it, the agents'
 * turns as child tasks (each keyed in its metadata, so an attempt resuming after a crash finds
 * the ones it started and never starts them twice), the messages of the conversation, and the
 * limits' errors.
 */
import { parseAgentRef } from '../../registry/index.js';
import { RuntimeError } from '../errors.js';
import type {
  AgentInvocation,
  ChildTaskOutcome,
  ChildTaskRequest,
  ConversationEntry,
  RuntimeContext,
} from '../types.js';

export interface PoolMember {
  readonly agent?: string;
  readonly delegates?: boolean;
  readonly capability?: string;
  readonly routing?: string;
}

/** builtin/orchestrate's input (src/registry/workflow/dynamic-input.ts writes it). */
export interface OrchestrateInput {
  readonly pattern: 'hierarchical' | 'round_robin' | 'selector' | 'mesh' | 'handoff';
  readonly input?: unknown;
  readonly agents?: readonly string[];
  readonly coordinator?: string;
  readonly pool?: readonly PoolMember[];
  readonly max_rounds?: number;
  readonly max_subtasks?: number;
  readonly max_depth?: number;
  readonly depth?: number;
  readonly allow_self_delegation?: boolean;
  readonly until?: string;
  readonly window?: number;
  readonly selector?: { readonly agent?: string; readonly expression?: string };
  readonly max_handoffs?: number;
  readonly max_ping_pong?: number;
  readonly max_retries?: number;
  readonly timeout_seconds?: number;
}

export interface OrchestrationDeps {
  /** The newest version of `name` (the owner's, or a builtin) satisfying `range`, or null. */
  resolveAgent(
    ownerId: string,
    name: string,
    range: string,
  ): Promise<{ readonly name: string; readonly version: string } | null>;
}

/** One message of a conversation as the speakers receive it. */
export interface Message {
  /** The agent's name (what `candidates`, `to` and selectors use). */
  readonly from: string;
  readonly to: string | null;
  readonly round: number;
  readonly content: unknown;
}

/** A sleeping orchestrator re-checks its turns this often even if no ending woke it. */
export const RECHECK_MS = 60_000;

export const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** `name@range` → its name (what speakers and plans call an agent). */
export function nameOf(ref: string): string {
  const parsed = parseAgentRef(ref);
  return typeof parsed === 'string' ? ref : parsed.name;
}

/** What a turn is: an agent by reference, a routed capability, or a nested orchestrator. */
export type Target =
  | { readonly ref: string }
  | { readonly capability: string; readonly routing?: string }
  | { readonly orchestrate: OrchestrateInput };

/**
 * The child task of one turn, its agent resolved to a version now (so a new version registered
 * mid-run does not change who answers). `key` marks it: the attempt that resumes reads it back.
 */
export async function turnRequest(
  deps: OrchestrationDeps,
  invocation: AgentInvocation,
  spec: OrchestrateInput,
  target: Target,
  input: unknown,
  key: string,
  metadata: Record<string, unknown> = {},
): Promise<ChildTaskRequest> {
  const common = {
    taskType: 'orchestration_turn',
    input,
    maxRetries: spec.max_retries ?? 0,
    ...(spec.timeout_seconds === undefined ? {} : { timeoutSeconds: spec.timeout_seconds }),
  };
  if ('capability' in target) {
    return {
      ...common,
      capability: target.capability,
      ...(target.routing === undefined ? {} : { routing: target.routing as ChildTaskRequest['routing'] }),
      metadata: { ...metadata, orch: key, call_id: key, tool: `capability:${target.capability}` },
    };
  }
  if ('orchestrate' in target) {
    return {
      ...common,
      input: target.orchestrate,
      agentName: 'builtin/orchestrate',
      agentVersion: '1.0.0',
      metadata: { ...metadata, orch: key, call_id: key, tool: 'builtin/orchestrate' },
    };
  }
  const ref = parseAgentRef(target.ref);
  if (typeof ref === 'string') throw RuntimeError.invalidInput('input', `${target.ref}: ${ref}`);
  const agent = await deps.resolveAgent(invocation.ownerId, ref.name, ref.range);
  if (agent === null)
    throw new RuntimeError('INPUT_INVALID', `agent ${target.ref}: no active version found`, {
      retryable: false,
    });
  return {
    ...common,
    agentName: agent.name,
    agentVersion: agent.version,
    metadata: {
      ...metadata,
      orch: key,
      call_id: key,
      tool: agent.name,
      agent: `${agent.name}@${agent.version}`,
    },
  };
}

/**
 * The turns `keys` as they stand, or null while one of them has not ended (the orchestrator
 * sleeps again). A key with no task is a bug of the state machine, not a wait.
 */
export async function endedTurns(
  context: RuntimeContext,
  keys: readonly string[],
): Promise<Map<string, ChildTaskOutcome> | null> {
  const children = (await context.childTasks?.()) ?? [];
  const byKey = new Map<string, ChildTaskOutcome>();
  for (const c of children) {
    const key = isObject(c.metadata) ? c.metadata.orch : undefined;
    if (typeof key === 'string' && keys.includes(key)) byKey.set(key, c);
  }
  for (const key of keys) {
    const child = byKey.get(key);
    if (child === undefined)
      throw new RuntimeError('INTERNAL', `orchestration: the turn "${key}" has no task`, {
        retryable: false,
      });
    if (!child.finished) return null;
  }
  return byKey;
}

/** Who answered a turn, as name@version (the child's metadata), for the record. */
export function speakerOf(child: ChildTaskOutcome, fallback: string): string {
  return isObject(child.metadata) && typeof child.metadata.agent === 'string'
    ? child.metadata.agent
    : fallback;
}

/** A turn that failed because a budget ran out ends a conversation; other failures fail the step. */
export function isBudgetFailure(child: ChildTaskOutcome): boolean {
  return child.status !== 'COMPLETED' && /BUDGET_EXCEEDED|budget exceeded/i.test(child.error ?? '');
}

export function turnFailed(child: ChildTaskOutcome, who: string): RuntimeError {
  return new RuntimeError(
    'INTERNAL',
    `${who} failed (${child.status}): ${child.error ?? 'no error recorded'}`,
    {
      status: 502,
      retryable: false,
      context: { task: child.id },
    },
  );
}

/** A conversation message as a `messages` row. */
export function entry(
  sender: string,
  recipient: string | null,
  type: ConversationEntry['type'],
  content: unknown,
  metadata: Record<string, unknown>,
): ConversationEntry {
  return {
    role: 'assistant',
    type,
    sender,
    recipient,
    content,
    metadata: { conversation: true, ...metadata },
  };
}

/** Commits `state` and `entries` together; a lost lease ends the attempt (another holds the task). */
export async function commit(
  context: RuntimeContext,
  state: unknown,
  entries: readonly ConversationEntry[],
): Promise<void> {
  if (context.checkpoint === undefined) return;
  if (!(await context.checkpoint(state, entries)))
    throw new RuntimeError('INTERNAL', 'orchestration: lease lost while saving the round', {
      retryable: true,
    });
}

export const recheck = (): Date => new Date(Date.now() + RECHECK_MS);

/** The last `window` messages. */
export const windowOf = (messages: readonly Message[], window: number | undefined): Message[] =>
  messages.slice(-(window ?? 20));
