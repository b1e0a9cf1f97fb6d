// Valid-looking values from the JSON Schemas of the OpenAPI document, and the tree operations the
// mutations use on them. A request that is valid but for one thing reaches the code behind the
// validation; one that is wrong everywhere only ever meets the schema check.
import { DEAD_URL } from './corpus.mjs';

/** @typedef {import('./rng.mjs').Rng} Rng */
/** @typedef {Record<string, any>} Schema */
/** @typedef {(string | number)[]} Location */

/** Strings tried, in order, against a `pattern` no heuristic below satisfies. */
const PATTERN_CANDIDATES = [
  'fuzz',
  'a',
  '1',
  'run.completed',
  'util:echo',
  'fuzz-1',
  'A1',
  '01890000-0000-7000-8000-000000000000',
  'whsec_' + Buffer.alloc(32, 7).toString('base64'),
];

/**
 * A string a server would likely accept for property `name` of `schema`.
 * @param {Schema} schema @param {string} name @param {Rng} rng
 */
function stringFor(schema, name, rng) {
  const lower = name.toLowerCase();
  /** @type {string[]} */
  const guesses = [];
  if (schema.format === 'date-time' || /(at|_until|time)$/.test(lower))
    guesses.push('2030-01-01T00:00:00.000Z');
  if (/url|endpoint/.test(lower)) guesses.push(DEAD_URL);
  if (lower === 'cron') guesses.push('*/5 * * * *');
  if (lower === 'timezone') guesses.push('UTC');
  if (lower === 'secret') guesses.push(PATTERN_CANDIDATES.at(-1) ?? '');
  if (lower === 'agent') guesses.push('echo');
  if (lower.includes('capabilit')) guesses.push('util:echo');
  if (/name|key|source|type|step|workflow/.test(lower)) guesses.push(`fuzz-${rng.int(1_000_000)}`);
  guesses.push(...PATTERN_CANDIDATES);
  const pattern = typeof schema.pattern === 'string' ? safeRegExp(schema.pattern) : null;
  let value = guesses.find((g) => pattern === null || pattern.test(g)) ?? 'fuzz';
  const min = Number(schema.minLength ?? 0);
  const max = Number(schema.maxLength ?? Infinity);
  if (value.length < min) value = value.padEnd(min, 'x');
  return value.slice(0, max);
}

/** @param {string} source */
function safeRegExp(source) {
  try {
    return new RegExp(source, 'u');
  } catch {
    return null;
  }
}

/**
 * @param {Schema} schema @param {Schema} components the document's components.schemas
 */
function resolve(schema, components) {
  let current = schema;
  for (let hops = 0; hops < 10 && typeof current?.$ref === 'string'; hops++) {
    const name = current.$ref.replace(/^#\/components\/schemas\//, '').replace(/#$/, '');
    current = components[name] ?? {};
  }
  return current ?? {};
}

/**
 * A value `schema` accepts, as far as cheap heuristics get (patterns, names, bounds).
 * @param {Schema | undefined} input @param {Rng} rng @param {string} name the property it is for
 * @param {Schema} components @param {number} [depth]
 * @returns {unknown}
 */
export function validValue(input, rng, name, components, depth = 0) {
  const schema = resolve(input ?? {}, components);
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return rng.pick(schema.enum);
  if (schema.default !== undefined && rng.chance(0.3)) return schema.default;
  const choices = schema.oneOf ?? schema.anyOf;
  if (Array.isArray(choices) && choices.length > 0)
    return validValue(rng.pick(choices), rng, name, components, depth + 1);
  let type = schema.type;
  if (Array.isArray(type)) type = type.find((t) => t !== 'null') ?? 'null';
  if (type === undefined) type = schema.properties ? 'object' : 'any';
  switch (type) {
    case 'string':
      return stringFor(schema, name, rng);
    case 'integer':
    case 'number': {
      const lo = Number(schema.minimum ?? (schema.exclusiveMinimum ?? 0) + 1);
      const hi = Number(schema.maximum ?? lo + 10);
      return type === 'integer' ? rng.between(Math.ceil(lo), Math.floor(hi)) : lo + rng.next() * (hi - lo);
    }
    case 'boolean':
      return rng.chance(0.5);
    case 'null':
      return null;
    case 'array': {
      if (depth > 6) return [];
      const count = Math.min(Math.max(Number(schema.minItems ?? 0), 1), Number(schema.maxItems ?? 3), 3);
      return Array.from({ length: count }, () => validValue(schema.items, rng, name, components, depth + 1));
    }
    case 'object': {
      /** @type {Record<string, unknown>} */
      const out = {};
      if (depth > 6) return out;
      const required = new Set(Array.isArray(schema.required) ? schema.required : []);
      for (const [key, sub] of Object.entries(schema.properties ?? {}))
        // A URL the server might call is always there, as DEAD_URL: left out, a default (an LLM
        // provider's public API) would take its place, and the fuzzer reaches nothing but 127.0.0.1.
        if (required.has(key) || /url/i.test(key) || rng.chance(0.5))
          out[key] = validValue(sub, rng, key, components, depth + 1);
      return out;
    }
    default:
      // "Any JSON value" (input, payload, output): what a caller would send.
      return rng.pick([{}, { text: 'hello fuzz' }, { name: 'fuzz', n: 1 }, ['a', 'b'], 'text']);
  }
}

/**
 * Every location inside `value` (objects' keys, arrays' indexes), the root as [] first.
 * @param {unknown} value @param {number} [limit]
 * @returns {Location[]}
 */
export function locations(value, limit = 500) {
  /** @type {Location[]} */
  const out = [[]];
  /** @type {[unknown, Location][]} */
  const stack = [[value, []]];
  while (stack.length > 0 && out.length < limit) {
    const [node, at] = /** @type {[unknown, Location]} */ (stack.pop());
    if (node === null || typeof node !== 'object') continue;
    for (const key of Array.isArray(node) ? node.keys() : Object.keys(node)) {
      const child = [...at, key];
      out.push(child);
      stack.push([/** @type {any} */ (node)[key], child]);
    }
  }
  return out;
}

/**
 * `root` with the value at `at` replaced (`undefined`: removed). Copies the path it changes.
 * @param {unknown} root @param {Location} at @param {unknown} value
 * @returns {unknown}
 */
export function setAt(root, at, value) {
  if (at.length === 0) return value;
  const [head, ...rest] = at;
  const copy = Array.isArray(root) ? [...root] : { .../** @type {object} */ (root ?? {}) };
  const record = /** @type {Record<string | number, unknown>} */ (copy);
  const child = setAt(record[/** @type {string | number} */ (head)], rest, value);
  if (child === undefined && rest.length === 0) {
    if (Array.isArray(copy)) copy.splice(Number(head), 1);
    else delete record[/** @type {string | number} */ (head)];
  } else {
    // defineProperty, not assignment: a key named __proto__ stays an own key.
    Object.defineProperty(copy, /** @type {string | number} */ (head), {
      value: child,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return copy;
}
