import { InputError } from '../errors/index.js';

/** A value a template's placeholder is filled with: text, or a list (of agents, say). */
export type ParameterType = 'string' | 'list' | 'integer';

/** A placeholder a template declares: `{{ params.NAME }}` in its workflow. */
export interface TemplateParameter {
  readonly name: string;
  readonly description: string;
  readonly type: ParameterType;
  /** Used when none is given; a parameter without one is required. */
  readonly default?: string | number | readonly string[];
}

export type ParameterValue = string | number | readonly string[];

/**
 * `{{ params.NAME }}`: the `params.` prefix keeps template parameters apart from the workflow's
 * own `{{ trigger.x }}` / `{{ steps.y.output }}` expressions, which are left as they are.
 */
const PLACEHOLDER = /\{\{\s*params\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;
const WHOLE_PLACEHOLDER = /^\{\{\s*params\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$/;
export const PARAMETER_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const MAX_TEXT = 1000;
const MAX_ITEMS = 50;

/** Every parameter name the workflow's strings mention (and keys, which may not). */
export function placeholdersOf(value: unknown, found = new Set<string>()): Set<string> {
  if (typeof value === 'string') for (const match of value.matchAll(PLACEHOLDER)) found.add(match[1]!);
  else if (Array.isArray(value)) for (const item of value) placeholdersOf(item, found);
  else if (value !== null && typeof value === 'object')
    for (const item of Object.values(value)) placeholdersOf(item, found);
  return found;
}

/**
 * The parameters' values: given ones checked against their declared type, the rest from their
 * defaults; an undeclared name, a missing required one or a wrong type is an InputError naming
 * `parameters.NAME`. A list may be given as comma-separated text (as `--set` does).
 */
export function resolveParameters(
  declared: readonly TemplateParameter[],
  given: Readonly<Record<string, unknown>>,
): Map<string, ParameterValue> {
  const byName = new Map(declared.map((p) => [p.name, p]));
  for (const name of Object.keys(given))
    if (!byName.has(name))
      throw new InputError(
        `parameters.${name}`,
        `is not a parameter of this template (it has ${declared.map((p) => p.name).join(', ') || 'none'})`,
      );
  const values = new Map<string, ParameterValue>();
  for (const parameter of declared) {
    const raw = given[parameter.name] ?? parameter.default;
    if (raw === undefined)
      throw new InputError(`parameters.${parameter.name}`, `is required: ${parameter.description}`);
    values.set(parameter.name, coerce(parameter, raw));
  }
  return values;
}

function coerce(parameter: TemplateParameter, raw: unknown): ParameterValue {
  const field = `parameters.${parameter.name}`;
  if (parameter.type === 'list') {
    const items =
      typeof raw === 'string'
        ? raw
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s !== '')
        : raw;
    if (!Array.isArray(items) || items.length === 0 || items.length > MAX_ITEMS)
      throw new InputError(field, `must be a list of 1–${MAX_ITEMS} names (or comma-separated text)`);
    return items.map((item, i) => text(`${field}[${i}]`, item));
  }
  if (parameter.type === 'integer') {
    const value = typeof raw === 'string' && /^-?[0-9]{1,9}$/.test(raw.trim()) ? Number(raw) : raw;
    if (typeof value !== 'number' || !Number.isInteger(value))
      throw new InputError(field, `must be an integer, got ${JSON.stringify(raw)}`);
    return value;
  }
  return text(field, raw);
}

function text(field: string, raw: unknown): string {
  if (typeof raw !== 'string' || raw.trim() === '' || raw.length > MAX_TEXT)
    throw new InputError(field, `must be non-empty text of at most ${MAX_TEXT} characters`);
  // The value is data, never more template: a placeholder in it would be filled again.
  if (raw.includes('{{') || raw.includes('}}')) throw new InputError(field, 'may not contain "{{" or "}}"');
  return raw;
}

/**
 * The workflow with its placeholders filled: a string that is one placeholder becomes the
 * value itself (a list stays a list), a placeholder inside text becomes its text. Works on
 * the parsed definition, so a value can never change the document's structure.
 */
export function fillPlaceholders(value: unknown, values: ReadonlyMap<string, ParameterValue>): unknown {
  if (typeof value === 'string') {
    const whole = WHOLE_PLACEHOLDER.exec(value);
    if (whole !== null && values.has(whole[1]!)) return values.get(whole[1]!);
    return value.replace(PLACEHOLDER, (match, name: string) => {
      const filled = values.get(name);
      if (filled === undefined) return match;
      return Array.isArray(filled) ? filled.join(', ') : String(filled);
    });
  }
  if (Array.isArray(value)) return value.map((item) => fillPlaceholders(item, values));
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fillPlaceholders(v, values)]));
  return value;
}
