import { InputError } from '../errors/index.js';
import { TEMPLATE_PATTERNS } from '../storage/index.js';
import { PARAMETER_NAME, placeholdersOf, type ParameterType, type TemplateParameter } from './render.js';

export type TemplatePattern = (typeof TEMPLATE_PATTERNS)[number];

/** A workflow with declared placeholders, instantiated into a workflow definition. */
export interface Template {
  readonly name: string;
  readonly description: string | null;
  /** The orchestration pattern it shows; `consensus` for the consensus strategies. */
  readonly pattern: TemplatePattern | null;
  readonly parameters: readonly TemplateParameter[];
  /** The workflow definition, with `{{ params.NAME }}` placeholders. */
  readonly workflow: Record<string, unknown>;
  /** Shipped with Swarm (templates/*.yaml) and offered to everyone, or the owner's own. */
  readonly builtin: boolean;
  readonly isPublic: boolean;
}

export const TEMPLATE_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const PARAMETER_TYPES: readonly ParameterType[] = ['string', 'list', 'integer'];
const MAX_PARAMETERS = 30;

/**
 * Checks a template document (a built-in file or a `POST /api/v1/templates` body): its name, its
 * parameters, and that every placeholder its workflow uses is declared and every declared one
 * used. Throws an InputError naming the field (prefixed with `source` for files).
 */
export function parseTemplate(
  value: unknown,
  options: { builtin: boolean; isPublic: boolean; source?: string },
): Template {
  const at = (field: string) => (options.source === undefined ? field : `${options.source}: ${field}`);
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new InputError(at('template'), 'must be an object');
  const doc = value as Record<string, unknown>;
  for (const key of Object.keys(doc))
    if (!['name', 'description', 'pattern', 'parameters', 'workflow'].includes(key))
      throw new InputError(
        at(key),
        'is not a template field (name, description, pattern, parameters, workflow)',
      );
  if (typeof doc.name !== 'string' || !TEMPLATE_NAME.test(doc.name))
    throw new InputError(at('name'), 'must be 1–64 lower-case letters, digits, ".", "_" or "-"');
  if (doc.description !== undefined && (typeof doc.description !== 'string' || doc.description.length > 2000))
    throw new InputError(at('description'), 'must be text of at most 2000 characters');
  if (
    doc.pattern !== undefined &&
    doc.pattern !== null &&
    !(TEMPLATE_PATTERNS as readonly unknown[]).includes(doc.pattern)
  )
    throw new InputError(at('pattern'), `must be one of ${TEMPLATE_PATTERNS.join(', ')}`);
  if (doc.workflow === null || typeof doc.workflow !== 'object' || Array.isArray(doc.workflow))
    throw new InputError(at('workflow'), 'must be a workflow definition (an object)');
  const parameters = parseParameters(doc.parameters ?? [], at);
  const declared = new Set(parameters.map((p) => p.name));
  const used = placeholdersOf(doc.workflow);
  for (const name of used)
    if (!declared.has(name))
      throw new InputError(at('parameters'), `the workflow uses {{ params.${name} }}, which is not declared`);
  for (const name of declared)
    if (!used.has(name))
      throw new InputError(
        at('parameters'),
        `"${name}" is declared but the workflow never uses {{ params.${name} }}`,
      );
  return {
    name: doc.name,
    description: (doc.description as string | undefined) ?? null,
    pattern: (doc.pattern as TemplatePattern | undefined) ?? null,
    parameters,
    workflow: doc.workflow as Record<string, unknown>,
    builtin: options.builtin,
    isPublic: options.isPublic,
  };
}

function parseParameters(value: unknown, at: (field: string) => string): TemplateParameter[] {
  if (!Array.isArray(value) || value.length > MAX_PARAMETERS)
    throw new InputError(at('parameters'), `must be a list of at most ${MAX_PARAMETERS} parameters`);
  const seen = new Set<string>();
  return value.map((item: unknown, i) => {
    const field = at(`parameters[${i}]`);
    if (item === null || typeof item !== 'object' || Array.isArray(item))
      throw new InputError(field, 'must be {name, description, type?, default?}');
    const p = item as Record<string, unknown>;
    for (const key of Object.keys(p))
      if (!['name', 'description', 'type', 'default'].includes(key))
        throw new InputError(
          `${field}.${key}`,
          'is not a parameter field (name, description, type, default)',
        );
    if (typeof p.name !== 'string' || !PARAMETER_NAME.test(p.name))
      throw new InputError(
        `${field}.name`,
        'must be a letter or "_" then letters, digits or "_" (at most 64)',
      );
    if (seen.has(p.name)) throw new InputError(`${field}.name`, `"${p.name}" is declared twice`);
    seen.add(p.name);
    if (typeof p.description !== 'string' || p.description.trim() === '' || p.description.length > 500)
      throw new InputError(`${field}.description`, 'must be non-empty text of at most 500 characters');
    const type = p.type ?? 'string';
    if (!PARAMETER_TYPES.includes(type as ParameterType))
      throw new InputError(`${field}.type`, `must be one of ${PARAMETER_TYPES.join(', ')}`);
    const fallback = p.default;
    const defaultOk =
      fallback === undefined ||
      (type === 'string' && typeof fallback === 'string') ||
      (type === 'integer' && Number.isInteger(fallback)) ||
      (type === 'list' && Array.isArray(fallback) && fallback.every((x) => typeof x === 'string'));
    if (!defaultOk) throw new InputError(`${field}.default`, `must be a ${type}`);
    return {
      name: p.name,
      description: p.description,
      type: type as ParameterType,
      ...(fallback === undefined ? {} : { default: fallback as TemplateParameter['default'] & object }),
    };
  });
}
