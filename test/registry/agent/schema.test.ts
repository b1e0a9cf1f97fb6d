import { describe, expect, it } from 'vitest';
import { createSchemaAjv } from '../../../src/registry/agent/index.js';
import { base, expectIssue, issuesOf, validOf } from './helpers.js';

describe('validateAgentManifest: input_schema and output_schema', () => {
  it('accepts draft-07 schemas, booleans, local $refs and the supported formats', () => {
    const schema = {
      $schema: 'http://json-schema.org/draft-07/schema#',
      type: 'object',
      definitions: { email: { type: 'string', format: 'email' } },
      properties: { to: { $ref: '#/definitions/email' }, at: { type: 'string', format: 'date-time' } },
      required: ['to'],
    };
    expect(validOf(base({ input_schema: schema, output_schema: true })).input_schema).toEqual(schema);
  });

  it('reports meta-schema errors with their location inside the schema', () => {
    expectIssue(
      base({ input_schema: { type: 'object', properties: { a: { type: 'strin' } } } }),
      'input_schema',
      'not a valid JSON Schema at #/properties/a/type: must be equal to one of the allowed values (array, boolean',
    );
    expectIssue(base({ output_schema: { minLength: -1 } }), 'output_schema', 'at #/minLength: must be >= 0');
    expectIssue(base({ output_schema: { required: 'a' } }), 'output_schema', 'at #/required: must be array');
  });

  it('refuses a schema that is neither an object nor a boolean', () => {
    expectIssue(
      base({ input_schema: 'object' }),
      'input_schema',
      'must be a JSON Schema (an object or true/false), got "object"',
    );
  });

  it('refuses unknown keywords (strict), locating them', () => {
    expectIssue(
      base({
        input_schema: { type: 'object', properties: { requried: { type: 'string', requried: true } } },
      }),
      'input_schema',
      'unknown keyword "requried" at #/properties/requried',
    );
  });

  it('refuses $refs that resolve nowhere, locating them', () => {
    expectIssue(
      base({ output_schema: { properties: { a: { $ref: '#/definitions/missing' } } } }),
      'output_schema',
      '$ref "#/definitions/missing" at #/properties/a cannot be resolved',
    );
    expectIssue(
      base({ input_schema: { $ref: 'https://example.com/s.json' } }),
      'input_schema',
      'cannot be resolved',
    );
  });

  it('refuses unknown formats and unsupported $schema dialects', () => {
    expectIssue(
      base({ input_schema: { type: 'string', format: 'emial' } }),
      'input_schema',
      'unknown format "emial"',
    );
    expectIssue(
      base({ input_schema: { $schema: 'https://json-schema.org/draft/2020-12/schema' } }),
      'input_schema',
      'is not supported: agent schemas are JSON Schema draft-07',
    );
  });

  it('lets the same $id appear in both schemas and in many manifests', () => {
    const schema = { $id: 'https://example.com/thing', type: 'object' };
    validOf(base({ input_schema: schema, output_schema: schema }));
    validOf(base({ input_schema: schema }));
  });

  it('reports both schemas when both are wrong', () => {
    const issues = issuesOf(base({ input_schema: { type: 1 }, output_schema: { type: 2 } }));
    expect(issues.map((i) => i.field)).toEqual(['input_schema', 'output_schema']);
  });

  it('createSchemaAjv validates data with the same dialect and formats', () => {
    const validate = createSchemaAjv().compile({
      type: 'object',
      properties: { to: { type: 'string', format: 'email' } },
    });
    expect(validate({ to: 'a@example.com' })).toBe(true);
    expect(validate({ to: 'nope' })).toBe(false);
  });
});
