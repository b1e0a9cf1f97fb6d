/**
 * The `runtime` block: how a worker runs the agent. Each runtime type has its own fields; the
 * checks here are the ones that must hold before anything is stored (a process entry inside the
 * agent's folder, a usable Ed25519 key, a known builtin), not ones that need the database (whether
 * an LLM provider is configured is the registry's question).
 */
import type { FieldIssue } from '../../errors/index.js';
import type { RuntimeSpec } from '../types.js';
import { checkEntry } from './entry.js';
import { checkProcessMode, PROCESS_MODE_KEYS } from './process-mode.js';
import { checkLlmLoop, LLM_LOOP_KEYS } from './llm-tools.js';
import {
  BUILTIN_NAMES,
  BUILTIN_PREFIX,
  checkUnknownKeys,
  describe,
  isPlainObject,
  requiredString,
} from './rules.js';
import { decodeBase64, parseEd25519PublicKey } from './signature.js';

export const RUNTIME_TYPES = ['node', 'python', 'binary', 'http', 'llm', 'builtin'] as const;
type RuntimeType = (typeof RUNTIME_TYPES)[number];

const RUNTIME_KEYS: Record<RuntimeType, readonly string[]> = {
  node: ['type', 'entry', 'args', ...PROCESS_MODE_KEYS],
  python: ['type', 'entry', 'args', ...PROCESS_MODE_KEYS],
  binary: ['type', 'entry', 'args', ...PROCESS_MODE_KEYS],
  http: ['type', 'endpoint', 'public_key', 'signature'],
  llm: ['type', 'provider', 'model', 'fallbacks', 'system_prompt', 'parameters', ...LLM_LOOP_KEYS],
  builtin: ['type', 'name'],
};

const PROVIDER_PATTERN = /^[a-z0-9][a-z0-9._-]*$/;

/** Checks `runtime`; `folder` (the manifest's folder, when known) is where `entry` must exist. */
export function checkRuntime(
  value: unknown,
  folder: string | undefined,
  issues: FieldIssue[],
): RuntimeSpec | null {
  if (value === undefined) {
    issues.push({
      field: 'runtime',
      message: `is required: an object with a type (${RUNTIME_TYPES.join(', ')})`,
    });
    return null;
  }
  if (!isPlainObject(value)) {
    issues.push({ field: 'runtime', message: `must be an object with a type, got ${describe(value)}` });
    return null;
  }
  const type = value.type;
  if (!RUNTIME_TYPES.includes(type as RuntimeType)) {
    const got = type === undefined ? 'it is missing' : `got ${describe(type)}`;
    issues.push({ field: 'runtime.type', message: `must be one of ${RUNTIME_TYPES.join(', ')}; ${got}` });
    return null;
  }
  const kind = type as RuntimeType;
  checkUnknownKeys(value, RUNTIME_KEYS[kind], 'runtime.', issues, `the ${kind} runtime`);
  const before = issues.length;
  const spec = buildRuntime(kind, value, folder, issues);
  return issues.length === before ? spec : null;
}

function buildRuntime(
  kind: RuntimeType,
  raw: Record<string, unknown>,
  folder: string | undefined,
  issues: FieldIssue[],
): RuntimeSpec {
  const need = (key: string, hint: string): string =>
    requiredString(raw[key], `runtime.${key}`, hint, issues);
  switch (kind) {
    case 'node':
    case 'python':
    case 'binary': {
      const entry = checkEntry(raw.entry, kind, folder, issues);
      const mode = checkProcessMode(raw, issues);
      if (raw.args === undefined) return { type: kind, entry, ...mode };
      const args = Array.isArray(raw.args) ? raw.args : [];
      if (!Array.isArray(raw.args))
        issues.push({
          field: 'runtime.args',
          message: `must be an array of strings, got ${describe(raw.args)}`,
        });
      args.forEach((arg: unknown, i) => {
        if (typeof arg !== 'string')
          issues.push({ field: `runtime.args[${i}]`, message: `must be a string, got ${describe(arg)}` });
      });
      return { type: kind, entry, args: args as string[], ...mode };
    }
    case 'http': {
      const endpoint = need('endpoint', 'the http(s) URL Swarm sends tasks to');
      if (endpoint !== '') checkEndpoint(endpoint, issues);
      const publicKey = need(
        'public_key',
        'the Ed25519 public key (base64 of 32 bytes or PEM) that signs this agent',
      );
      const parsed = publicKey === '' ? null : parseEd25519PublicKey(publicKey);
      if (parsed !== null && 'error' in parsed)
        issues.push({ field: 'runtime.public_key', message: parsed.error });
      if (raw.signature === undefined) return { type: 'http', endpoint, public_key: publicKey };
      const signature = requiredString(
        raw.signature,
        'runtime.signature',
        'base64 Ed25519 signature',
        issues,
      );
      if (signature !== '' && decodeBase64(signature)?.length !== 64) {
        issues.push({ field: 'runtime.signature', message: 'must be a base64 Ed25519 signature (64 bytes)' });
      }
      return { type: 'http', endpoint, public_key: publicKey, signature };
    }
    case 'llm': {
      const provider = need('provider', 'the name of a configured LLM provider, e.g. openai');
      if (provider !== '' && !PROVIDER_PATTERN.test(provider)) {
        issues.push({
          field: 'runtime.provider',
          message: `"${provider}" is not a provider name (lower-case letters, digits, . _ -)`,
        });
      }
      const model = need('model', 'the model to call, e.g. gpt-4o-mini');
      let systemPrompt: string | undefined;
      if (typeof raw.system_prompt === 'string') systemPrompt = raw.system_prompt;
      else if (raw.system_prompt !== undefined) {
        issues.push({
          field: 'runtime.system_prompt',
          message: `must be a string, got ${describe(raw.system_prompt)}`,
        });
      }
      const parameters =
        raw.parameters === undefined ? undefined : checkLlmParameters(raw.parameters, issues);
      const fallbacks = raw.fallbacks === undefined ? undefined : checkFallbacks(raw.fallbacks, issues);
      return {
        type: 'llm',
        provider,
        model,
        ...(fallbacks === undefined ? {} : { fallbacks }),
        ...(systemPrompt === undefined ? {} : { system_prompt: systemPrompt }),
        ...(parameters === undefined ? {} : { parameters }),
        ...checkLlmLoop(raw, issues),
      };
    }
    case 'builtin': {
      const name = need('name', `one of ${BUILTIN_NAMES.join(', ')}`);
      if (name !== '' && !(BUILTIN_NAMES as readonly string[]).includes(name)) {
        const hint = name.startsWith(BUILTIN_PREFIX)
          ? ` (write "${name.slice(BUILTIN_PREFIX.length)}", without the ${BUILTIN_PREFIX} prefix)`
          : '';
        issues.push({
          field: 'runtime.name',
          message: `"${name}" is not a builtin agent${hint}; one of ${BUILTIN_NAMES.join(', ')}`,
        });
      }
      return { type: 'builtin', name };
    }
  }
}

function checkEndpoint(endpoint: string, issues: FieldIssue[]): void {
  const field = 'runtime.endpoint';
  if (!URL.canParse(endpoint)) {
    issues.push({ field, message: `"${endpoint}" is not a URL` });
    return;
  }
  const url = new URL(endpoint);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    issues.push({ field, message: `must be an http:// or https:// URL, got ${url.protocol}` });
  } else if (url.username !== '' || url.password !== '') {
    // Credentials in a URL end up in logs and the API; a secret: permission carries them instead.
    issues.push({ field, message: 'must not contain credentials (user:password@); use a secret' });
  }
}

function checkLlmParameters(value: unknown, issues: FieldIssue[]): Record<string, unknown> {
  if (!isPlainObject(value)) {
    issues.push({ field: 'runtime.parameters', message: `must be an object, got ${describe(value)}` });
    return {};
  }
  const { temperature, max_tokens: maxTokens, top_p: topP } = value;
  if (
    temperature !== undefined &&
    !(typeof temperature === 'number' && temperature >= 0 && temperature <= 2)
  ) {
    issues.push({
      field: 'runtime.parameters.temperature',
      message: `must be a number from 0 to 2, got ${describe(temperature)}`,
    });
  }
  if (maxTokens !== undefined && !(Number.isInteger(maxTokens) && (maxTokens as number) > 0)) {
    issues.push({
      field: 'runtime.parameters.max_tokens',
      message: `must be a positive integer, got ${describe(maxTokens)}`,
    });
  }
  if (topP !== undefined && !(typeof topP === 'number' && topP >= 0 && topP <= 1)) {
    issues.push({
      field: 'runtime.parameters.top_p',
      message: `must be a number from 0 to 1, got ${describe(topP)}`,
    });
  }
  return value;
}

/** An llm agent's fallback providers, tried in order when the one before fails or is rate limited. */
export interface LlmFallback {
  readonly provider: string;
  /** The model to ask there; the agent's `model` when absent. */
  readonly model?: string;
}

const MAX_FALLBACKS = 5;

function checkFallbacks(raw: unknown, issues: FieldIssue[]): LlmFallback[] {
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_FALLBACKS) {
    issues.push({
      field: 'runtime.fallbacks',
      message: `must be a list of 1 to ${MAX_FALLBACKS} provider names or {provider, model}, got ${describe(raw)}`,
    });
    return [];
  }
  return raw.flatMap((item: unknown, i): LlmFallback[] => {
    const field = `runtime.fallbacks[${i}]`;
    const entry = typeof item === 'string' ? { provider: item } : item;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      issues.push({ field, message: `must be a provider name or {provider, model}, got ${describe(item)}` });
      return [];
    }
    const { provider, model, ...rest } = entry as Record<string, unknown>;
    const unknown = Object.keys(rest);
    if (unknown.length > 0)
      issues.push({
        field: `${field}.${unknown[0]}`,
        message: 'is not a fallback setting (provider, model)',
      });
    if (typeof provider !== 'string' || !PROVIDER_PATTERN.test(provider)) {
      issues.push({
        field: `${field}.provider`,
        message: `must be a provider name (lower-case letters, digits, . _ -), got ${describe(provider)}`,
      });
      return [];
    }
    if (model !== undefined && (typeof model !== 'string' || model === '' || model.length > 200)) {
      issues.push({ field: `${field}.model`, message: `must be a model name, got ${describe(model)}` });
      return [];
    }
    return [{ provider, ...(model === undefined ? {} : { model }) }];
  });
}
