/**
 * validateAgentManifest: plain data (a parsed agent.yaml, an API body) in, a normalised
 * AgentManifest or every problem out. Nothing stops at the first mistake: a user fixing a
 * manifest sees all of them at once, each at its exact path (`runtime.entry`, `capabilities[1]`).
 */
import semver from 'semver';
import type { FieldIssue } from '../../errors/index.js';
import {
  AGENT_KINDS,
  type AgentKind,
  type AgentManifest,
  type JsonSchema,
  type ValidationResult,
} from '../types.js';
import { manifestSigningPayload } from './hash.js';
import { checkJsonSchema } from './json-schema.js';
import {
  BUILTIN_PREFIX,
  CAPABILITY_PATTERN,
  FIXED_PERMISSIONS,
  NAME_MAX_LENGTH,
  NAME_PATTERN,
  MAX_CONCURRENCY,
  RESOURCE_LIMITS,
  SECRET_PERMISSION_PATTERN,
  checkStringList,
  checkUnknownKeys,
  describe,
  isPlainObject,
} from './rules.js';
import { checkRuntime } from './runtime.js';
import { parseEd25519PublicKey, verifyEd25519 } from './signature.js';

/** The manifest's keys, in the order a normalised manifest lists them. */
const MANIFEST_KEYS = [
  'name',
  'version',
  'description',
  'type',
  'capabilities',
  'permissions',
  'input_schema',
  'output_schema',
  'resources',
  'runtime',
  'tags',
  'author',
] as const;

export interface ValidateAgentOptions {
  /** The folder the manifest came from: when given, a process runtime's `entry` must exist in it. */
  readonly folder?: string;
}

export function validateAgentManifest(
  doc: unknown,
  options: ValidateAgentOptions = {},
): ValidationResult<AgentManifest> {
  return checkManifest(doc, options, false);
}

/** Only for Swarm's own builtin/<name> agents: the one place a `/` in a name is accepted. */
export function validateBuiltinManifest(doc: unknown): ValidationResult<AgentManifest> {
  return checkManifest(doc, {}, true);
}

function checkManifest(
  doc: unknown,
  options: ValidateAgentOptions,
  builtin: boolean,
): ValidationResult<AgentManifest> {
  if (!isPlainObject(doc)) {
    return {
      ok: false,
      issues: [{ field: 'manifest', message: `must be an object (a YAML mapping), got ${describe(doc)}` }],
    };
  }
  const issues: FieldIssue[] = [];
  checkUnknownKeys(doc, MANIFEST_KEYS, '', issues, 'an agent manifest');
  const name = checkName(doc.name, builtin, issues);
  const version = checkVersion(doc.version, issues);
  const description = optionalString(doc.description, 'description', issues);
  const type = checkKind(doc.type, issues);
  const capabilities = checkStringList(doc.capabilities, 'capabilities', issues, capabilityProblem);
  const permissions = checkStringList(doc.permissions, 'permissions', issues, permissionProblem);
  const inputSchema = optionalSchema(doc.input_schema, 'input_schema', issues);
  const outputSchema = optionalSchema(doc.output_schema, 'output_schema', issues);
  const resources = checkResources(doc.resources, issues);
  const runtime = checkRuntime(doc.runtime, options.folder, issues);
  const tags = checkStringList(doc.tags, 'tags', issues, (tag) =>
    tag.trim() === '' ? 'must not be empty' : tag.length > 100 ? 'must be at most 100 characters' : null,
  );
  const author = optionalString(doc.author, 'author', issues);
  if (issues.length > 0 || runtime === null) return { ok: false, issues };

  const manifest: AgentManifest = {
    name,
    version,
    ...(description === undefined ? {} : { description }),
    type,
    capabilities,
    permissions,
    ...(inputSchema === undefined ? {} : { input_schema: inputSchema }),
    ...(outputSchema === undefined ? {} : { output_schema: outputSchema }),
    resources,
    // A copy, so later changes to the caller's document cannot reach a validated manifest.
    runtime: structuredClone(runtime),
    tags,
    ...(author === undefined ? {} : { author }),
  };
  const signatureIssue = checkSignature(manifest);
  return signatureIssue === null ? { ok: true, value: manifest } : { ok: false, issues: [signatureIssue] };
}

function checkName(value: unknown, builtin: boolean, issues: FieldIssue[]): string {
  if (typeof value !== 'string' || value === '') {
    issues.push({
      field: 'name',
      message: value === undefined ? 'is required' : `must be a non-empty string, got ${describe(value)}`,
    });
    return '';
  }
  const local = builtin && value.startsWith(BUILTIN_PREFIX) ? value.slice(BUILTIN_PREFIX.length) : value;
  if (value.length > NAME_MAX_LENGTH) {
    issues.push({
      field: 'name',
      message: `must be at most ${NAME_MAX_LENGTH} characters, got ${value.length}`,
    });
  } else if (local.includes('/')) {
    issues.push({
      field: 'name',
      message: `"${value}" contains "/": "/" is reserved for builtin/<name>, the agents Swarm ships`,
    });
  } else if (!NAME_PATTERN.test(local)) {
    issues.push({
      field: 'name',
      message: `"${value}" must be lower-case letters, digits, ".", "_" or "-", starting with a letter or digit`,
    });
  }
  return value;
}

function checkVersion(value: unknown, issues: FieldIssue[]): string {
  const hint = 'a semver version such as 1.0.0 (one exact version, not a range)';
  if (typeof value !== 'string') {
    const quote = typeof value === 'number' ? ' (quote it in YAML)' : '';
    issues.push({
      field: 'version',
      message:
        value === undefined
          ? `is required: ${hint}`
          : `must be a string${quote}, got ${describe(value)}: ${hint}`,
    });
    return '';
  }
  const valid = semver.valid(value);
  // semver.valid accepts "v1.0.0" and drops "+build"; the stored identity is exactly what was written.
  if (valid !== value) {
    const suggestion = valid === null ? '' : `; write "${valid}"`;
    issues.push({ field: 'version', message: `"${value}" is not ${hint}${suggestion}` });
  }
  return value;
}

function checkKind(value: unknown, issues: FieldIssue[]): AgentKind {
  if (value === undefined) return 'execution';
  if (AGENT_KINDS.includes(value as AgentKind)) return value as AgentKind;
  issues.push({ field: 'type', message: `must be one of ${AGENT_KINDS.join(', ')}, got ${describe(value)}` });
  return 'execution';
}

function capabilityProblem(capability: string): string | null {
  if (capability.length > 200) return 'must be at most 200 characters';
  if (CAPABILITY_PATTERN.test(capability)) return null;
  return `"${capability}" is not a capability: lower-case segments joined by ":", such as text:summarize or data:v1`;
}

function permissionProblem(permission: string): string | null {
  if ((FIXED_PERMISSIONS as readonly string[]).includes(permission)) return null;
  if (permission.startsWith('secret:')) {
    return SECRET_PERMISSION_PATTERN.test(permission)
      ? null
      : `"${permission}": the secret name must match [A-Za-z_][A-Za-z0-9_]*`;
  }
  return `unknown permission "${permission}"; allowed: ${FIXED_PERMISSIONS.join(', ')}, secret:NAME`;
}

function optionalString(value: unknown, field: string, issues: FieldIssue[]): string | undefined {
  if (value === undefined || typeof value === 'string') return value;
  issues.push({ field, message: `must be a string, got ${describe(value)}` });
  return undefined;
}

function optionalSchema(value: unknown, field: string, issues: FieldIssue[]): JsonSchema | undefined {
  if (value === undefined) return undefined;
  const problems = checkJsonSchema(value, field);
  for (const problem of problems) issues.push(problem);
  return problems.length === 0 ? structuredClone(value as JsonSchema) : undefined;
}

function checkResources(value: unknown, issues: FieldIssue[]): AgentManifest['resources'] {
  const raw = value === undefined ? {} : value;
  if (!isPlainObject(raw)) {
    issues.push({
      field: 'resources',
      message: `must be an object (memory_mb, timeout_seconds, max_concurrency), got ${describe(raw)}`,
    });
    return {
      memory_mb: RESOURCE_LIMITS.memory_mb.default,
      timeout_seconds: RESOURCE_LIMITS.timeout_seconds.default,
    };
  }
  checkUnknownKeys(
    raw,
    [...Object.keys(RESOURCE_LIMITS), 'max_concurrency'],
    'resources.',
    issues,
    'resources',
  );
  const limit = (key: keyof typeof RESOURCE_LIMITS, unit: string): number => {
    const { min, max, default: fallback } = RESOURCE_LIMITS[key];
    const given = raw[key];
    if (given === undefined) return fallback;
    if (Number.isInteger(given) && (given as number) >= min && (given as number) <= max)
      return given as number;
    issues.push({
      field: `resources.${key}`,
      message: `must be an integer from ${min} to ${max} (${unit}), got ${describe(given)}`,
    });
    return fallback;
  };
  const resources = {
    memory_mb: limit('memory_mb', 'MB'),
    timeout_seconds: limit('timeout_seconds', 'seconds'),
  };
  const most = raw.max_concurrency;
  if (most === undefined) return resources;
  if (
    Number.isInteger(most) &&
    (most as number) >= MAX_CONCURRENCY.min &&
    (most as number) <= MAX_CONCURRENCY.max
  )
    return { ...resources, max_concurrency: most as number };
  issues.push({
    field: 'resources.max_concurrency',
    message: `must be an integer from ${MAX_CONCURRENCY.min} to ${MAX_CONCURRENCY.max} (tasks running at once), got ${describe(most)}`,
  });
  return resources;
}

/** A remote agent's signature must verify: otherwise anyone could register its endpoint. */
function checkSignature(manifest: AgentManifest): FieldIssue | null {
  const { runtime } = manifest;
  if (runtime.type !== 'http' || runtime.signature === undefined) return null;
  const parsed = parseEd25519PublicKey(runtime.public_key);
  if ('key' in parsed && verifyEd25519(parsed.key, manifestSigningPayload(manifest), runtime.signature))
    return null;
  return {
    field: 'runtime.signature',
    message:
      'does not verify against runtime.public_key: sign the canonical JSON of the manifest without runtime.signature',
  };
}
