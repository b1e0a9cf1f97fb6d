/**
 * An agent's input_schema and output_schema, checked at run time: the input because a step's
 * input is resolved from expressions only then, the output because it is what the next steps
 * will read. Problems name the place in JSON-path style: `output.items[2].count: must be integer`.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { MAX_ISSUES, moreIssues, type FieldIssue } from '../../errors/index.js';

// Formats are not checked here (unknown ones were refused at registration); strictness about
// the schema itself belongs to registration too, which already accepted these.
const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false, logger: false });
const compiled = new WeakMap<object, ValidateFunction>();

function validatorOf(schema: object): ValidateFunction {
  let validate = compiled.get(schema);
  if (validate === undefined) {
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  return validate;
}

/** Every problem of `value` against `schema` (none when the schema is absent or `true`). */
export function schemaIssues(schema: unknown, value: unknown, root: string): FieldIssue[] {
  if (schema === undefined || schema === null || schema === true) return [];
  if (schema === false) return [{ field: root, message: 'is not allowed by the schema (false)' }];
  if (typeof schema !== 'object') return [];
  const validate = validatorOf(schema);
  if (validate(value)) return [];
  // Only as many as an error reports (MAX_ISSUES): an input can break its schema 100,000 times.
  const errors = validate.errors ?? [];
  const shown = errors.slice(0, MAX_ISSUES - 1).map((error) => issueOf(error, value, root));
  return errors.length < MAX_ISSUES ? shown : [...shown, moreIssues(errors.length - shown.length)];
}

function issueOf(error: ErrorObject, value: unknown, root: string): FieldIssue {
  const segments = error.instancePath
    .split('/')
    .slice(1)
    .map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'));
  const params = error.params as {
    missingProperty?: string;
    additionalProperty?: string;
    allowedValues?: unknown[];
  };
  if (error.keyword === 'required' && params.missingProperty !== undefined)
    return { field: fieldPath(root, value, [...segments, params.missingProperty]), message: 'is required' };
  if (error.keyword === 'additionalProperties' && params.additionalProperty !== undefined)
    return {
      field: fieldPath(root, value, [...segments, params.additionalProperty]),
      message: 'is not allowed (additional property)',
    };
  const allowed =
    params.allowedValues === undefined
      ? ''
      : ` (${params.allowedValues.map((v) => JSON.stringify(v)).join(', ')})`;
  return {
    field: fieldPath(root, value, segments),
    message: `${error.message ?? error.keyword}${allowed}`,
  };
}

/** `output.items[2].count`, `output["odd key"]`: array indexes in brackets, odd keys quoted. */
export function fieldPath(root: string, value: unknown, segments: readonly string[]): string {
  let text = root;
  let current: unknown = value;
  for (const segment of segments) {
    if (Array.isArray(current) && /^\d+$/.test(segment)) {
      text += `[${segment}]`;
      current = current[Number(segment)];
    } else {
      text += /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(segment) ? `.${segment}` : `[${JSON.stringify(segment)}]`;
      current =
        typeof current === 'object' && current !== null
          ? (current as Record<string, unknown>)[segment]
          : undefined;
    }
  }
  return text;
}
