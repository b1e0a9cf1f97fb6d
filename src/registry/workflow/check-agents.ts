import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { FieldIssue } from '../../errors/index.js';
import type { AgentResolver, JsonSchema, ResolvedAgent } from '../types.js';
import { fieldOf, pointerToField } from './schema.js';
import { isObject, refText, type Json } from './refs.js';
import type { Located, SourceHandler, SourceStep } from './source.js';
import type { AgentRef } from './types.js';

/**
 * Agent rules, through the resolver: every agent reference resolves (telling an unknown agent
 * from a range no version satisfies), every capability is offered, and an input mapping that
 * feeds an agent directly cannot contradict its input_schema where that is knowable now.
 */

/** A place an agent is named, and the mapping it receives as written (if it receives one). */
interface Site {
  readonly ref: Located<AgentRef>;
  readonly input?: { readonly value: Json; readonly field: string };
}

/** Pattern members that receive the step's input mapping unchanged (see expand.ts). */
function firstStage(step: SourceStep): readonly Located<AgentRef>[] {
  // A dynamic pattern's agents get `{input: I, round, transcript…}`, never I itself.
  if (step.dynamic !== undefined) return [];
  if (step.kind === 'consensus' || step.pattern === 'concurrent' || step.pattern === 'mesh')
    return step.members;
  return step.members.slice(0, 1);
}

function sitesOf(steps: readonly SourceStep[], handlers: readonly SourceHandler[]): Site[] {
  const sites: Site[] = [];
  for (const step of steps) {
    const input = { value: step.input, field: step.inputField };
    if (step.agent) sites.push({ ref: step.agent, input });
    const fed = new Set(firstStage(step));
    for (const m of step.members) sites.push({ ref: m, ...(fed.has(m) ? { input } : {}) });
    if (step.judge) sites.push({ ref: step.judge });
    for (const layer of step.layers ?? []) for (const a of layer) sites.push({ ref: a });
    if (step.dynamic?.selector?.agent) sites.push({ ref: step.dynamic.selector.agent });
  }
  for (const h of handlers)
    if (h.agent) sites.push({ ref: h.agent, input: { value: h.input, field: h.inputField } });
  return sites;
}

export async function agentIssues(
  steps: readonly SourceStep[],
  handlers: readonly SourceHandler[],
  resolver: AgentResolver,
): Promise<FieldIssue[]> {
  // One question per distinct reference, however often it is written.
  const resolved = new Map<string, Promise<ResolvedAgent | null>>();
  const exists = new Map<string, Promise<boolean>>();
  const offered = new Map<string, Promise<boolean>>();
  const once = <T>(cache: Map<string, Promise<T>>, key: string, ask: () => Promise<T>): Promise<T> => {
    const known = cache.get(key);
    if (known) return known;
    const asked = ask();
    cache.set(key, asked);
    return asked;
  };
  const perSite = sitesOf(steps, handlers).map(async ({ ref, input }): Promise<FieldIssue[]> => {
    const { name, range } = ref.value;
    const agent = await once(resolved, refText(ref.value), () => resolver.resolve(name, range));
    if (agent === null) {
      const known = await once(exists, name, () => resolver.exists(name));
      const message = known ? `no version of "${name}" satisfies "${range}"` : `unknown agent "${name}"`;
      return [{ field: ref.field, message }];
    }
    if (input === undefined || agent.input_schema === undefined) return [];
    return inputSchemaIssues(agent.input_schema, input.value, input.field, `${agent.name}@${agent.version}`);
  });
  const capabilities = steps.flatMap((step) => [
    ...(step.capability ? [step.capability] : []),
    ...(step.dynamic?.pool.flatMap((p) => (p.capability ? [p.capability] : [])) ?? []),
  ]);
  const perCapability = capabilities.map(async ({ value, field }): Promise<FieldIssue[]> => {
    const ok = await once(offered, value, () => resolver.hasCapability(value));
    return ok ? [] : [{ field, message: `no agent offers "${value}"` }];
  });
  const all = await Promise.all([...perSite, ...perCapability]);
  return all.flat();
}

// Agents' schemas are their own: no strict mode, formats not checked, nothing registered by $id.
const schemaAjv = new Ajv({ allErrors: true, strict: false, validateFormats: false, addUsedSchema: false });
const compiled = new WeakMap<object, ValidateFunction | null>();

function compile(schema: object): ValidateFunction | null {
  if (!compiled.has(schema)) {
    let validate: ValidateFunction | null = null;
    try {
      validate = schemaAjv.compile(schema);
    } catch {
      // A schema Ajv cannot compile was accepted at registration by other rules; skip, not fail.
    }
    compiled.set(schema, validate);
  }
  return compiled.get(schema) ?? null;
}

/**
 * The mapping with every template replaced by null, and the JSON pointers of those places:
 * their values are unknown until the run, so no error may depend on them.
 */
function literalView(value: unknown, pointer: string, unknown: string[]): unknown {
  if (typeof value === 'string' && value.includes('{{')) {
    unknown.push(pointer);
    return null;
  }
  if (Array.isArray(value)) return value.map((v, i) => literalView(v, `${pointer}/${i}`, unknown));
  if (isObject(value)) {
    // fromEntries defines own properties, so a "__proto__" key stays a plain key.
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        k,
        literalView(v, `${pointer}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`, unknown),
      ]),
    );
  }
  return value;
}

/** Keywords decided by keys or lengths alone, which templates do not change. */
const SHAPE_ONLY = new Set([
  'required',
  'additionalProperties',
  'minProperties',
  'maxProperties',
  'minItems',
  'maxItems',
  'type',
]);
/** Errors under these are alternatives tried, not failures of their own. */
const BRANCH = /\/(anyOf|oneOf|not|if|then|else|contains|dependentSchemas|propertyNames)\//;

function knowable(error: ErrorObject, unknown: readonly string[]): boolean {
  if (error.keyword === 'if' || BRANCH.test(error.schemaPath)) return false;
  const at = error.instancePath;
  if (unknown.some((u) => at === u || at.startsWith(`${u}/`))) return false;
  // An error about a container is only knowable when it does not look inside unknown values.
  return SHAPE_ONLY.has(error.keyword) || !unknown.some((u) => u.startsWith(`${at}/`));
}

/** Errors the input mapping's literal parts already cause against `schema` (see knowable()). */
export function inputSchemaIssues(
  schema: JsonSchema,
  input: Json,
  field: string,
  label: string,
): FieldIssue[] {
  if (typeof schema === 'boolean') return [];
  const validate = compile(schema);
  if (validate === null) return [];
  const unknown: string[] = [];
  const view = literalView(input, '', unknown);
  if (validate(view)) return [];
  const suffix = ` (input_schema of ${label})`;
  return (validate.errors ?? [])
    .filter((e) => knowable(e, unknown))
    .map((e): FieldIssue => {
      const at = pointerToField(e.instancePath, view, field);
      const params = e.params as Record<string, unknown>;
      if (e.keyword === 'required')
        return {
          field: at,
          message: `missing required property "${String(params.missingProperty)}"${suffix}`,
        };
      if (e.keyword === 'additionalProperties') {
        return {
          field: fieldOf(at, String(params.additionalProperty)),
          message: `is not a property the agent accepts${suffix}`,
        };
      }
      return { field: at, message: `${e.message ?? 'is invalid'}${suffix}` };
    });
}
