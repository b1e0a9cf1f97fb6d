import type { FieldIssue } from '../../errors/index.js';
import { MAX_LOOKBACK_MS, MAX_WAIT_TIMEOUT_MS, parseDuration } from './duration.js';
import { compileExpression, isTemplate, stepReferences } from './expressions.js';
import { fieldOf } from './schema.js';
import { isObject, str, type Json } from './refs.js';
import type { Located } from './source.js';
import type { AgentRef } from './types.js';

/**
 * The `wait_for` step form: `wait_for: {event, source?, match?, timeout?, lookback?, on_timeout?}`
 * is a step run by builtin/wait_for_event with those fields as its input. `match` is a bare
 * JSONata expression evaluated by the event dispatcher, not by the engine, so the step's input
 * also carries what it reads besides the event: `trigger`, `variables`, `run`, the outputs of
 * the steps it names, and `item`/`index` in a for_each (the `scope`, filled in when the step is
 * planned, as any input mapping is).
 */

export const WAIT_FOR_AGENT: AgentRef = { name: 'builtin/wait_for_event', range: '*' };

export interface WaitForSource {
  readonly match?: Located<string>;
}

/** The step's agent and input from its `wait_for`, reporting what is wrong at the field. */
export function readWaitFor(
  raw: Json,
  at: string,
  issues: FieldIssue[],
): { agent: Located<AgentRef>; input: Json; waitFor: WaitForSource } {
  const field = fieldOf(at, 'wait_for');
  const f = (key: string): string => fieldOf(field, key);
  if (raw.input !== undefined)
    issues.push({
      field: fieldOf(at, 'input'),
      message: 'not allowed with wait_for (the wait_for fields are the input of builtin/wait_for_event)',
    });
  const spec = isObject(raw.wait_for) ? raw.wait_for : {};
  for (const [key, max] of [
    ['timeout', MAX_WAIT_TIMEOUT_MS],
    ['lookback', MAX_LOOKBACK_MS],
  ] as const) {
    // A template is worked out when the step starts, and checked by the builtin then.
    if (typeof spec[key] !== 'string' || isTemplate(spec[key])) continue;
    const ms = parseDuration(spec[key], max);
    if (typeof ms === 'string') issues.push({ field: f(key), message: ms });
  }
  const match = str(spec.match);
  if (match !== undefined && match.includes('{{'))
    issues.push({
      field: f('match'),
      message:
        'is a bare JSONata expression over the event, evaluated when events come: write it without {{ }}',
    });
  const input: Json = {};
  for (const key of ['event', 'source', 'match', 'timeout', 'lookback', 'on_timeout'])
    if (spec[key] !== undefined) input[key] = spec[key];
  return {
    agent: { value: WAIT_FOR_AGENT, field },
    input,
    waitFor:
      match === undefined || match.includes('{{') ? {} : { match: { value: match, field: f('match') } },
  };
}

/** The input of a validated wait_for step: its fields and the `scope` its match reads. */
export function waitForInput(input: Json, waitFor: WaitForSource, forEach: boolean): Json {
  const steps: Json = {};
  const match = waitFor.match?.value;
  for (const id of match === undefined ? [] : stepReferences(compileExpression(match)))
    steps[id] = { output: `{{ steps.${id}.output }}` };
  return {
    ...input,
    scope: {
      trigger: '{{ trigger }}',
      variables: '{{ variables }}',
      run: '{{ run }}',
      steps,
      ...(forEach ? { item: '{{ item }}', index: '{{ index }}' } : {}),
    },
  };
}
