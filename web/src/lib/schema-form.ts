/**
 * What the schema form checks before sending, and how the server's field errors find their
 * field. Paths are dotted, relative to the form's value: `name`, `user.email`, `tags.0`.
 */
import type { JsonSchema } from './run-input.js';

export type FieldErrors = Record<string, string>;

export function typeOf(schema: JsonSchema): string | undefined {
  const type = schema.type;
  if (Array.isArray(type)) return (type as readonly string[]).find((t) => t !== 'null');
  return type as string | undefined;
}

const isEmpty = (value: unknown) =>
  value === undefined || value === null || (typeof value === 'string' && value.trim() === '');

/** Required fields left empty, numbers that are not, out-of-range numbers, at any depth. */
export function validateValue(schema: JsonSchema, value: unknown, path = ''): FieldErrors {
  const errors: FieldErrors = {};
  const at = (key: string | number) => (path === '' ? String(key) : `${path}.${key}`);
  const type = typeOf(schema);
  if (type === 'object' && schema.properties !== undefined) {
    const record = value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
    for (const key of schema.required ?? []) if (isEmpty(record[key])) errors[at(key)] = 'is required';
    for (const [key, child] of Object.entries(schema.properties))
      if (!isEmpty(record[key]) && errors[at(key)] === undefined)
        Object.assign(errors, validateValue(child, record[key], at(key)));
  } else if (type === 'array' && Array.isArray(value) && schema.items !== undefined) {
    value.forEach((item, i) => Object.assign(errors, validateValue(schema.items!, item, at(i))));
  } else if ((type === 'number' || type === 'integer') && !isEmpty(value)) {
    if (typeof value !== 'number' || Number.isNaN(value)) errors[path] = 'must be a number';
    else if (type === 'integer' && !Number.isInteger(value)) errors[path] = 'must be a whole number';
    else if (schema.minimum !== undefined && value < schema.minimum)
      errors[path] = `must be ≥ ${schema.minimum}`;
    else if (schema.maximum !== undefined && value > schema.maximum)
      errors[path] = `must be ≤ ${schema.maximum}`;
  }
  return errors;
}

/**
 * The server's 400 `errors` by the form's paths: `body.input.name` (schema validation of the
 * request) and `input.name` (checks of the input) are the form's `name`; errors about anything
 * else are returned under '' for the form as a whole.
 */
export function fieldErrorsOf(problems: readonly { field: string; message: string }[]): FieldErrors {
  const errors: FieldErrors = {};
  for (const { field, message } of problems) {
    const path = field.replace(/^body\./, '');
    const key = path === 'input' ? '' : path.startsWith('input.') ? path.slice('input.'.length) : '';
    const text = key === '' && path !== 'input' ? `${field}: ${message}` : message;
    errors[key] = errors[key] === undefined ? text : `${errors[key]}; ${text}`;
  }
  return errors;
}

/** A starting value: each property's default, nested objects filled in, nothing else. */
export function initialValue(schema: JsonSchema): unknown {
  if (schema.default !== undefined) return schema.default;
  const type = typeOf(schema);
  if (type === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(schema.properties ?? {})) {
      const value = initialValue(child);
      if (value !== undefined) out[key] = value;
    }
    return out;
  }
  if (type === 'array') return [];
  if (type === 'boolean') return false;
  return undefined;
}

/** The value without empty strings and empty objects: what a field left blank means. */
export function pruneEmpty(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(pruneEmpty).filter((v) => v !== undefined);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value)) {
      const pruned = pruneEmpty(child);
      if (pruned !== undefined) out[key] = pruned;
    }
    return out;
  }
  if (typeof value === 'string' && value === '') return undefined;
  return value;
}
