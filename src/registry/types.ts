/**
 * The registry's shared vocabulary: what an agent manifest and a workflow definition become
 * once parsed and checked. Agents (agent/), workflows (workflow/) and the registry service use
 * these shapes; the storage layer keeps them as JSON.
 */
import type { FieldIssue } from '../errors/index.js';
import type { LlmLoopSettings } from './agent/llm-tools.js';
import type { ProcessModeSettings } from './agent/process-mode.js';

export type JsonSchema = Record<string, unknown> | boolean;

export const AGENT_KINDS = ['reasoning', 'execution', 'coordination', 'analysis'] as const;
export type AgentKind = (typeof AGENT_KINDS)[number];

export type RuntimeSpec =
  | ({
      readonly type: 'node' | 'python' | 'binary';
      readonly entry: string;
      readonly args?: readonly string[];
    } & ProcessModeSettings)
  | {
      readonly type: 'http';
      readonly endpoint: string;
      readonly public_key: string;
      readonly signature?: string;
    }
  | ({
      readonly type: 'llm';
      readonly provider: string;
      readonly model: string;
      readonly system_prompt?: string;
      readonly parameters?: Readonly<Record<string, unknown>>;
    } & LlmLoopSettings)
  | { readonly type: 'builtin'; readonly name: string };

/** An agent manifest after validation, with every default filled in. */
export interface AgentManifest {
  readonly name: string;
  readonly version: string;
  readonly description?: string;
  readonly type: AgentKind;
  readonly capabilities: readonly string[];
  readonly permissions: readonly string[];
  readonly input_schema?: JsonSchema;
  readonly output_schema?: JsonSchema;
  readonly resources: {
    readonly memory_mb: number;
    readonly timeout_seconds: number;
    /** Most of its tasks RUNNING at once, per owner, across all workers (flow control). */
    readonly max_concurrency?: number;
  };
  readonly runtime: RuntimeSpec;
  readonly tags: readonly string[];
  readonly author?: string;
}

/** What workflow validation needs to know about an agent a step names. */
export interface ResolvedAgent {
  readonly name: string;
  readonly version: string;
  readonly input_schema?: JsonSchema;
  readonly output_schema?: JsonSchema;
  readonly capabilities: readonly string[];
}

/**
 * How workflow validation finds agents, without knowing where they live (the registry answers
 * from the caller's agents plus Swarm's builtins).
 */
export interface AgentResolver {
  /** The highest version of `name` that satisfies the semver `range`, or null. */
  resolve(name: string, range: string): Promise<ResolvedAgent | null>;
  /** Whether any usable agent offers this capability. */
  hasCapability(capability: string): Promise<boolean>;
  /** Whether any version of `name` exists (to tell "unknown agent" from "no version in range"). */
  exists(name: string): Promise<boolean>;
}

export type ValidationResult<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly issues: readonly FieldIssue[] };
