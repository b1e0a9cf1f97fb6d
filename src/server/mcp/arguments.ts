import { Ajv } from 'ajv';
import type { FieldIssue } from '../../errors/index.js';
import type { ObjectSchema } from './tools.js';

// The same leniency as the runtime's checks of agent input (src/registry/agent/instance-schemas.ts):
// formats are not checked, and the schema itself was accepted when its agent was registered.
const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false, logger: false });

/** The most problems reported for one call. */
const MAX_SHOWN = 20;

/**
 * Every problem of a tool call's arguments against its run input's schema. Each call derives
 * its schema anew (agents change), so the compiled validator is dropped again: Ajv keeps every
 * schema it compiled, and a long-lived server would otherwise keep one per call.
 */
export function argumentIssues(schema: ObjectSchema, args: Record<string, unknown>): FieldIssue[] {
  const validate = ajv.compile(schema);
  try {
    if (validate(args)) return [];
    return (validate.errors ?? []).slice(0, MAX_SHOWN).map((error) => {
      const params = error.params as { missingProperty?: string };
      const path = [error.instancePath.slice(1).replaceAll('/', '.'), params.missingProperty]
        .filter((part) => part !== undefined && part !== '')
        .join('.');
      return {
        field: path === '' ? 'arguments' : `arguments.${path}`,
        message: error.message ?? 'is invalid',
      };
    });
  } finally {
    ajv.removeSchema(schema);
  }
}
