import { describe, expect, it } from 'vitest';
import {
  compileExpression,
  compileTemplate,
  isTemplate,
  parseExpression,
  resolveInput,
  stepReferences,
  templateExpressions,
} from '../../../src/registry/workflow/index.js';

describe('expression helpers (shared with the engine)', () => {
  it('tells templates from literals and lists their expressions', () => {
    expect(isTemplate('plain')).toBe(false);
    expect(isTemplate(3)).toBe(false);
    expect(isTemplate('{{ a }}')).toBe(true);
    expect(templateExpressions('Hi {{ trigger.name }}, {{ $count(steps.a.output) }} items')).toEqual([
      'trigger.name',
      '$count(steps.a.output)',
    ]);
    expect(templateExpressions('plain')).toEqual([]);
  });

  it('compiles exactly-one templates to values and longer strings to text', () => {
    expect(compileTemplate('plain').kind).toBe('literal');
    expect(compileTemplate('  {{ a.b }} ').kind).toBe('value');
    expect(compileTemplate('x {{ a }}').kind).toBe('text');
    expect(compileTemplate('{{ a }}{{ b }}').kind).toBe('text');
    expect(() => compileTemplate('{{ a')).toThrow(/without a closing/);
    expect(() => compileTemplate('{{ a( }}')).toThrow();
  });

  it('resolves a mapping: values keep their JSON type, text interpolates, literals stay', async () => {
    const context = { trigger: { n: 3, tags: ['a', 'b'] }, steps: { fetch: { output: { body: 'hello' } } } };
    const input = {
      n: '{{ trigger.n }}',
      tags: '{{ trigger.tags }}',
      text: 'got {{ steps.fetch.output.body }} and {{ trigger.tags }}{{ trigger.none }}',
      nested: [{ deep: '{{ trigger.n * 2 }}' }, 7, null],
      literal: 'no templates',
    };
    expect(await resolveInput(input, context)).toEqual({
      n: 3,
      tags: ['a', 'b'],
      text: 'got hello and ["a","b"]',
      nested: [{ deep: 6 }, 7, null],
      literal: 'no templates',
    });
  });

  it('parses bare expressions and finds the steps they read', () => {
    expect(parseExpression('a +')).toEqual({
      ok: false,
      message: expect.stringMatching(/\(at character \d+\)$/),
    });
    expect(
      stepReferences(
        compileExpression(
          'steps.a.output.x & steps.`b`.output[0] & $map(steps.c.output, function($v){ $v }) & foo.steps.d',
        ),
      ),
    ).toEqual(['a', 'b', 'c']);
  });
});
