import { describe, expect, it } from 'vitest';
import {
  firstStepAgents,
  runInputSchema,
  type InputStep,
  type JsonSchema,
} from '../../web/src/lib/run-input.js';
import { fieldErrorsOf, pruneEmpty, validateValue } from '../../web/src/lib/schema-form.js';

const sentiment: JsonSchema = {
  type: 'object',
  required: ['text'],
  properties: { text: { type: 'string', description: 'What to classify' }, lang: { enum: ['en', 'de'] } },
};

describe('runInputSchema', () => {
  it("takes a pass-through field's schema and requiredness from the first step's agent", () => {
    const steps: InputStep[] = [
      {
        id: 'mood',
        agent: { name: 'sentiment' },
        input: { text: '{{ trigger.text }}', lang: '{{trigger.lang}}' },
      },
      { id: 'next', agent: { name: 'other' }, needs: ['mood'], input: { x: '{{ trigger.extra }}' } },
    ];
    expect(firstStepAgents(steps)).toEqual(['sentiment']);
    expect(runInputSchema(steps, (n) => (n === 'sentiment' ? sentiment : undefined))).toEqual({
      type: 'object',
      properties: {
        text: { type: 'string', description: 'What to classify' },
        lang: { enum: ['en', 'de'] },
        // A later step's reference: optional text.
        extra: { type: 'string' },
      },
      required: ['text'],
    });
  });

  it("reads hello's `name` from its expressions, and for_each fields as lists", () => {
    const hello: InputStep[] = [
      {
        id: 'greet',
        agent: { name: 'builtin/transform' },
        input: {
          name: '{{ trigger.name ? trigger.name : "world" }}',
          greeting: 'Hello, {{ trigger.name }}!',
        },
      },
      {
        id: 'check',
        agent: { name: 'builtin/condition' },
        needs: ['greet'],
        input: { value: '{{ steps.greet.output.trigger.no }}' },
      },
    ];
    expect(runInputSchema(hello, () => undefined)).toEqual({
      type: 'object',
      properties: { name: { type: 'string' } },
    });
    const fanOut: InputStep[] = [
      { id: 'count', agent: 'word-count@^1', for_each: 'trigger.documents', input: { text: '{{ item }}' } },
    ];
    expect(firstStepAgents(fanOut)).toEqual(['word-count']);
    expect(runInputSchema(fanOut, () => undefined)?.properties).toEqual({
      documents: { type: 'array', items: { type: 'string' } },
    });
  });

  it('is null when the definition reads no trigger field: the form falls back to JSON', () => {
    expect(
      runInputSchema(
        [{ id: 'a', agent: 'builtin/noop', input: { x: 1, y: '{{ variables.z }}' } }],
        () => undefined,
      ),
    ).toBeNull();
  });
});

describe('the schema form checks', () => {
  const schema: JsonSchema = {
    type: 'object',
    required: ['name', 'user'],
    properties: {
      name: { type: 'string' },
      count: { type: 'integer', minimum: 1 },
      user: { type: 'object', required: ['email'], properties: { email: { type: 'string' } } },
    },
  };

  it('names required fields left empty, at any depth, and bad numbers', () => {
    expect(validateValue(schema, pruneEmpty({ name: '', user: {} }))).toEqual({
      name: 'is required',
      'user.email': 'is required',
    });
    expect(validateValue(schema, { name: 'n', user: { email: 'e' }, count: 1.5 })).toEqual({
      count: 'must be a whole number',
    });
    expect(validateValue(schema, { name: 'n', user: { email: 'e' }, count: 0 })).toEqual({
      count: 'must be ≥ 1',
    });
    expect(validateValue(schema, { name: 'n', user: { email: 'e' }, count: 2 })).toEqual({});
  });

  it("puts the server's field errors on the form's fields, and the rest on the form", () => {
    expect(
      fieldErrorsOf([
        { field: 'body.input.name', message: 'must be string' },
        { field: 'input.user.email', message: 'is required' },
        { field: 'body.version', message: 'must NOT have fewer than 1 characters' },
      ]),
    ).toEqual({
      name: 'must be string',
      'user.email': 'is required',
      '': 'body.version: must NOT have fewer than 1 characters',
    });
  });
});
