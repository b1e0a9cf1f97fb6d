import type { FieldIssue } from '../../errors/index.js';
import { parseExpression, plainPath, scanTemplate, stepReferences, type ExprNode } from './expressions.js';
import { ancestors } from './graph.js';
import { fieldOf } from './schema.js';
import type { SourceHandler, SourceStep } from './source.js';
import { isObject, type Json } from './refs.js';

/**
 * Expression rules: every `{{ }}` in an input mapping and every `when`/`for_each` must parse;
 * `steps.<id>` may only name a step the step depends on (directly or not), since any other
 * step's output may not exist yet when it runs; a `for_each` that is knowably not a list (a
 * literal, or a path into `variables` whose value is not an array) is refused.
 */

interface Scope {
  readonly known: ReadonlySet<string>;
  /** Step ids this expression may read; undefined = any known step (handlers run at the end). */
  readonly upstream?: ReadonlySet<string>;
  readonly noun: string;
}

function refIssues(text: string, field: string, scope: Scope, issues: FieldIssue[]): ExprNode | undefined {
  const parsed = parseExpression(text);
  if (!parsed.ok) {
    issues.push({ field, message: `expression does not parse: ${parsed.message}` });
    return undefined;
  }
  for (const id of stepReferences(parsed.expression)) {
    if (!scope.known.has(id)) issues.push({ field, message: `refers to unknown ${scope.noun} "${id}"` });
    else if (scope.upstream && !scope.upstream.has(id)) {
      const why = scope.noun === 'node' ? 'is not upstream of it (no path of edges)' : 'is not in needs';
      issues.push({ field, message: `refers to ${scope.noun} "${id}", which ${why}` });
    }
  }
  return parsed.expression.ast();
}

/** Walks an input mapping: templates in strings, at any depth. */
function mappingIssues(value: unknown, field: string, scope: Scope, issues: FieldIssue[]): void {
  if (typeof value === 'string') {
    if (!value.includes('{{')) return;
    const scanned = scanTemplate(value);
    if (scanned.error !== undefined) issues.push({ field, message: scanned.error });
    for (const part of scanned.parts)
      if (typeof part !== 'string') refIssues(part.expr, field, scope, issues);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => mappingIssues(v, fieldOf(field, i), scope, issues));
  } else if (isObject(value)) {
    for (const [k, v] of Object.entries(value)) mappingIssues(v, fieldOf(field, k), scope, issues);
  }
}

function bareIssues(text: string, field: string, scope: Scope, issues: FieldIssue[]): ExprNode | undefined {
  if (/^\s*\{\{[\s\S]*\}\}\s*$/.test(text)) {
    issues.push({ field, message: 'is a bare JSONata expression: write it without {{ }}' });
    return undefined;
  }
  return refIssues(text, field, scope, issues);
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** Why a for_each expression can be known not to give a list, or null when it may. */
function notAList(ast: ExprNode, variables: Json): string | null {
  if (ast.type === 'string' || ast.type === 'number' || ast.type === 'value') {
    return `it is ${kindOf(ast.value)} literal`;
  }
  if (ast.type === 'unary' && ast.value === '{') return 'it is an object literal';
  const path = plainPath(ast);
  if (path === null || path[0] !== 'variables' || path.length < 2) return null;
  let value: unknown = variables;
  for (const name of path.slice(1)) {
    // A list on the way maps the rest of the path over its items: the result is a list.
    if (!isObject(value)) return null;
    value = value[name];
  }
  if (value === undefined || Array.isArray(value)) return null;
  return `${path.join('.')} is ${kindOf(value)}`;
}

export function expressionIssues(
  steps: readonly SourceStep[],
  handlers: readonly SourceHandler[],
  variables: Json,
  noun: string,
): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const known = new Set(steps.map((s) => s.id));
  const upstream = ancestors(steps);
  for (const step of steps) {
    const scope: Scope = { known, upstream: upstream.get(step.id) ?? new Set(), noun };
    mappingIssues(step.input, step.inputField, scope, issues);
    if (step.when) bareIssues(step.when.value, step.when.field, scope, issues);
    // Evaluated by the event dispatcher over the event and the run (wait-for.ts).
    // Flow-control keys: evaluated at enqueue over the same data as the step's input.
    for (const key of step.flow?.keys ?? []) bareIssues(key.value, key.field, scope, issues);
    if (step.waitFor?.match) bareIssues(step.waitFor.match.value, step.waitFor.match.field, scope, issues);
    // Evaluated by builtin/orchestrate over the conversation, not over the run: no `steps` there.
    for (const bare of [step.dynamic?.until, step.dynamic?.selector?.expression]) {
      if (bare !== undefined) bareIssues(bare.value, bare.field, { known: new Set(), noun }, issues);
    }
    if (step.forEach) {
      const ast = bareIssues(step.forEach.value, step.forEach.field, scope, issues);
      const why = ast ? notAList(ast, variables) : null;
      if (why !== null) issues.push({ field: step.forEach.field, message: `is not a list (${why})` });
    }
  }
  for (const handler of handlers) mappingIssues(handler.input, handler.inputField, { known, noun }, issues);
  return issues;
}
