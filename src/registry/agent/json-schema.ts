/**
 * JSON Schemas inside manifests (input_schema, output_schema). Swarm speaks JSON Schema
 * draft-07, Ajv's default dialect and Fastify's, so the API's schemas and the agents' agree.
 * A schema must pass the meta-schema AND compile: compiling catches what the meta-schema
 * cannot (unknown keywords under strict mode, `$ref`s that resolve nowhere, unknown formats).
 */
import { isIP } from 'node:net';
import { Ajv, MissingRefError, type ErrorObject, type Format, type Options } from 'ajv';
import { MAX_ISSUES, moreIssues, type FieldIssue } from '../../errors/index.js';
import { describe, isPlainObject } from './rules.js';

export const DRAFT_07 = 'http://json-schema.org/draft-07/schema#';

/**
 * The formats agents may use. Unknown format names are errors (a typo would otherwise switch the
 * check off silently). A deliberately small set instead of ajv-formats, which is not a direct
 * dependency of Swarm.
 */
const FORMATS: Record<string, Format> = {
  'date-time': (s) =>
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i.test(s) && !Number.isNaN(Date.parse(s)),
  date: (s) => /^\d{4}-\d\d-\d\d$/.test(s) && !Number.isNaN(Date.parse(`${s}T00:00:00Z`)),
  email: /^[^\s@]+@[^\s@]+\.[^\s@]+$/,
  uri: (s) => /^[a-z][a-z0-9+.-]*:/i.test(s) && URL.canParse(s),
  uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
  hostname: /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i,
  ipv4: (s) => isIP(s) === 4,
  ipv6: (s) => isIP(s) === 6,
};

/**
 * Ajv options every part of Swarm uses for agent schemas (validating step inputs and outputs too):
 * strict about keywords, lenient about type inference (`properties` without `type: object` is
 * common and harmless).
 */
export const SCHEMA_AJV_OPTIONS: Options = {
  allErrors: true,
  strictSchema: true,
  strictTypes: false,
  strictTuples: false,
  strictRequired: false,
  formats: FORMATS,
};

/** A draft-07 Ajv configured like the manifest validator, for validating data against agent schemas. */
export function createSchemaAjv(options: Options = {}): Ajv {
  return new Ajv({ ...SCHEMA_AJV_OPTIONS, ...options });
}

// validateSchema keeps no state, so one instance (and its compiled meta-schema) serves every call.
const metaChecker = createSchemaAjv();

/** Every problem with `schema`, each naming `field` and the location inside the schema. */
export function checkJsonSchema(schema: unknown, field: string): FieldIssue[] {
  if (typeof schema !== 'boolean' && !isPlainObject(schema)) {
    return [{ field, message: `must be a JSON Schema (an object or true/false), got ${describe(schema)}` }];
  }
  let valid: boolean;
  try {
    valid = metaChecker.validateSchema(schema) as boolean;
  } catch {
    // Ajv throws when `$schema` names a meta-schema it does not have.
    const declared = isPlainObject(schema) ? JSON.stringify(schema.$schema) : '';
    return [
      {
        field,
        message: `$schema ${declared} is not supported: agent schemas are JSON Schema draft-07 (omit $schema or use "${DRAFT_07}")`,
      },
    ];
  }
  if (!valid) return metaIssues(field, metaChecker.errors ?? []);
  try {
    // A fresh instance per compile: a user's `$id` must never collide with another schema's.
    createSchemaAjv({ validateSchema: false, addUsedSchema: false }).compile(schema);
  } catch (error) {
    return [{ field, message: compileMessage(schema, error) }];
  }
  return [];
}

/**
 * One issue per location; anyOf's "must match a schema in anyOf" only when nothing better. Only
 * the first locations become issues (MAX_ISSUES, as an error reports): a schema can be wrong in
 * 200,000 places (`required` of numbers), and the rest are counted.
 */
function metaIssues(field: string, errors: readonly ErrorObject[]): FieldIssue[] {
  const byPath = new Map<string, ErrorObject[]>();
  const skipped = new Set<string>();
  for (const error of errors) {
    const group = byPath.get(error.instancePath);
    if (group !== undefined) group.push(error);
    else if (byPath.size < MAX_ISSUES - 1) byPath.set(error.instancePath, [error]);
    else skipped.add(error.instancePath);
  }
  const issues = [...byPath].map(([path, group]) => {
    // Errors from inside anyOf/oneOf branches explain why each alternative failed: noise when a
    // direct error (such as the enum of type names) says it plainly.
    const direct = group.filter((e) => !/\/(anyOf|oneOf)(\/|$)/.test(e.schemaPath));
    const specific =
      direct.length > 0 ? direct : group.filter((e) => e.keyword !== 'anyOf' && e.keyword !== 'oneOf');
    const texts = (specific.length > 0 ? specific : group).map((e) => {
      const allowed = (e.params as { allowedValues?: unknown[] }).allowedValues;
      return `${e.message ?? e.keyword}${allowed ? ` (${allowed.join(', ')})` : ''}`;
    });
    return { field, message: `not a valid JSON Schema at #${path}: ${[...new Set(texts)].join('; ')}` };
  });
  return skipped.size === 0 ? issues : [...issues, moreIssues(skipped.size)];
}

function compileMessage(schema: unknown, error: unknown): string {
  if (error instanceof MissingRefError) {
    const ref = error.missingRef;
    const at = locate(
      schema,
      (key, value) => key === '$ref' && typeof value === 'string' && ref.endsWith(value),
    );
    return `$ref "${ref}"${at === null ? '' : ` at ${at}`} cannot be resolved: only references inside the schema are supported`;
  }
  const message = (error as Error).message;
  const keyword = /^strict mode: unknown keyword: "(.+)"$/.exec(message)?.[1];
  if (keyword !== undefined) {
    const at = locate(schema, (key) => key === keyword);
    return `unknown keyword "${keyword}"${at === null ? '' : ` at ${at}`} (agent schemas are strict JSON Schema draft-07)`;
  }
  return `cannot be compiled: ${message}`;
}

// Keys of these keywords are user names (property names, definition names), never keywords.
const NAME_MAPS = new Set(['properties', 'patternProperties', 'definitions', '$defs', 'dependencies']);
// Values of these keywords are data, not schemas.
const DATA_KEYWORDS = new Set(['enum', 'const', 'default', 'examples']);

/** The JSON pointer (`#/properties/a`) of the schema object holding a key that matches. */
function locate(
  node: unknown,
  match: (key: string, value: unknown) => boolean,
  pointer = '#',
  namesOnly = false,
): string | null {
  if (Array.isArray(node)) {
    for (const [i, item] of node.entries()) {
      const found = locate(item, match, `${pointer}/${i}`);
      if (found !== null) return found;
    }
    return null;
  }
  if (!isPlainObject(node)) return null;
  for (const [key, value] of Object.entries(node)) {
    if (!namesOnly && match(key, value)) return pointer;
    if (!namesOnly && DATA_KEYWORDS.has(key)) continue;
    const found = locate(
      value,
      match,
      `${pointer}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`,
      !namesOnly && NAME_MAPS.has(key),
    );
    if (found !== null) return found;
  }
  return null;
}
