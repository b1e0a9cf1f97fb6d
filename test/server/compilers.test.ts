import { describe, expect, it } from 'vitest';
import { schemaCompilers } from '../../src/server/compilers.js';

/**
 * The app's schema compilers keep what they compile per process (src/server/compilers.ts): the
 * same schemas by content give the same function, and any difference in content — the route's
 * schema, a shared schema, the options, the part of the request — gives its own.
 */
const shared = () => ({
  Thing: { $id: 'Thing', type: 'object', properties: { name: { type: 'string' } } },
});
const route = (schema: unknown, extra: Record<string, string> = {}) =>
  ({ schema, method: 'GET', url: '/things', httpStatus: '200', ...extra }) as never;

describe('schema compilers kept per process', () => {
  it('serializes with one compiled function for the same schemas, copied afresh', () => {
    const first = schemaCompilers.buildSerializer(shared(), {})(route({ $ref: 'Thing#' }));
    const again = schemaCompilers.buildSerializer(shared(), {})(route({ $ref: 'Thing#' }));
    expect(again).toBe(first);
    expect(first({ name: 'a', secret: 'x' })).toBe('{"name":"a"}');
  });

  it('compiles anew when a shared schema, the route schema or the options differ', () => {
    const base = schemaCompilers.buildSerializer(shared(), {})(route({ $ref: 'Thing#' }));
    const wider = {
      Thing: {
        $id: 'Thing',
        type: 'object',
        properties: { name: { type: 'string' }, size: { type: 'integer' } },
      },
    };
    const changed = schemaCompilers.buildSerializer(wider, {})(route({ $ref: 'Thing#' }));
    expect(changed).not.toBe(base);
    expect(changed({ name: 'a', size: 2 })).toBe('{"name":"a","size":2}');
    const inline = schemaCompilers.buildSerializer(
      shared(),
      {},
    )(route({ type: 'object', properties: { size: { type: 'integer' } } }));
    expect(inline({ name: 'a', size: 2 })).toBe('{"size":2}');
    const rounded = schemaCompilers.buildSerializer(shared(), { rounding: 'floor' })(
      route({ type: 'object', properties: { size: { type: 'integer' } } }),
    );
    expect(rounded).not.toBe(inline);
    expect(rounded({ size: 2.7 })).toBe('{"size":2}');
  });

  it('validates with one compiled function per schema and part of the request', () => {
    const options = { customOptions: { allErrors: true, coerceTypes: false } };
    const schema = () => ({
      type: 'object',
      properties: { thing: { $ref: 'Thing#' } },
      required: ['thing'],
    });
    const body = schemaCompilers.buildValidator(shared(), options)(route(schema(), { httpPart: 'body' }));
    const again = schemaCompilers.buildValidator(shared(), options)(route(schema(), { httpPart: 'body' }));
    const query = schemaCompilers.buildValidator(
      shared(),
      options,
    )(route(schema(), { httpPart: 'querystring' }));
    expect(again).toBe(body);
    expect(query).not.toBe(body);
    expect(body({ thing: { name: 'a' } })).toBe(true);
    expect(body({ thing: { name: 1 } })).toBe(false);
    expect(body({})).toBe(false);
  });
});
