import { Expression, type EvaluateOptions, type ExprNode } from '../../expressions/index.js';

/**
 * Expressions are JSONata, never JavaScript. Input mappings use `{{ expr }}` templates: a string
 * that is exactly one template (surrounding whitespace ignored) takes the expression's value, of
 * any JSON type; templates inside longer text interpolate as text; every other value is a
 * literal. `when` and `for_each` are bare expressions. Validation and the engine share these
 * helpers so "parses" means the same thing in both. Every evaluation is bounded (time, depth,
 * result size: see src/expressions/).
 */

export { Expression, type ExprNode };

/** Compiles a bare JSONata expression; throws jsonata's error (with `position`) when it does not parse. */
export function compileExpression(text: string): Expression {
  const cached = compiledExpressions.get(text);
  if (cached !== undefined) return cached;
  const expression = new Expression(text);
  remember(compiledExpressions, text, expression);
  return expression;
}

/**
 * Compiled templates by source text. A workflow's mappings are few and evaluated over and over
 * (every item of a 10,000-item for_each resolves the same input), and a compiled JSONata
 * expression may be evaluated any number of times, concurrently too: each evaluation gets its
 * own frame. Bounded, oldest out first, so arbitrary definitions cannot grow it without end.
 */
const compiledTemplates = new Map<string, CompiledTemplate>();
const compiledExpressions = new Map<string, Expression>();
const MAX_COMPILED = 2000;

function remember<T>(cache: Map<string, T>, key: string, value: T): void {
  if (cache.size >= MAX_COMPILED) cache.delete(cache.keys().next().value!);
  cache.set(key, value);
}

/** compileExpression without the throw: the parse error as a one-line message. */
export function parseExpression(
  text: string,
): { ok: true; expression: Expression } | { ok: false; message: string } {
  try {
    return { ok: true, expression: compileExpression(text) };
  } catch (error) {
    const e = error as { message?: string; position?: number };
    const at = typeof e.position === 'number' ? ` (at character ${e.position})` : '';
    return { ok: false, message: `${e.message ?? String(error)}${at}` };
  }
}

/** A string's `{{ }}` parts: literal text and expression sources, in order. */
export interface ScannedTemplate {
  readonly parts: readonly (string | { readonly expr: string })[];
  /** Set when the text has a `{{` without `}}` or an empty `{{ }}`. */
  readonly error?: string;
}

export function scanTemplate(text: string): ScannedTemplate {
  const parts: (string | { expr: string })[] = [];
  let rest = text;
  for (;;) {
    const open = rest.indexOf('{{');
    if (open < 0) break;
    const close = rest.indexOf('}}', open + 2);
    if (close < 0) return { parts, error: 'has "{{" without a closing "}}"' };
    if (open > 0) parts.push(rest.slice(0, open));
    const expr = rest.slice(open + 2, close).trim();
    if (expr === '') return { parts, error: 'has an empty "{{ }}"' };
    parts.push({ expr });
    rest = rest.slice(close + 2);
  }
  if (rest !== '') parts.push(rest);
  return { parts };
}

/** Whether a mapping value is a template (a string with `{{`) rather than a literal. */
export function isTemplate(value: unknown): value is string {
  return typeof value === 'string' && value.includes('{{');
}

/** The expression sources inside a template string (none for literals). */
export function templateExpressions(value: unknown): string[] {
  if (!isTemplate(value)) return [];
  return scanTemplate(value).parts.flatMap((p) => (typeof p === 'string' ? [] : [p.expr]));
}

export type CompiledTemplate =
  | { readonly kind: 'literal'; readonly value: string }
  | { readonly kind: 'value'; readonly expression: Expression }
  | { readonly kind: 'text'; readonly parts: readonly (string | Expression)[] };

/** Compiles a mapping string; throws when a template is malformed or does not parse. */
export function compileTemplate(text: string): CompiledTemplate {
  const cached = compiledTemplates.get(text);
  if (cached !== undefined) return cached;
  const compiled = compileTemplateUncached(text);
  remember(compiledTemplates, text, compiled);
  return compiled;
}

function compileTemplateUncached(text: string): CompiledTemplate {
  const scanned = scanTemplate(text);
  if (scanned.error !== undefined) throw new Error(`template ${scanned.error}`);
  const exprs = scanned.parts.filter((p) => typeof p !== 'string');
  if (exprs.length === 0) return { kind: 'literal', value: text };
  const only = exprs[0];
  const onlyWhitespaceAround = scanned.parts.every((p) => typeof p !== 'string' || p.trim() === '');
  if (exprs.length === 1 && only !== undefined && onlyWhitespaceAround) {
    return { kind: 'value', expression: compileExpression(only.expr) };
  }
  return {
    kind: 'text',
    parts: scanned.parts.map((p) => (typeof p === 'string' ? p : compileExpression(p.expr))),
  };
}

/** Text interpolation: strings as they are, nothing for undefined, JSON for everything else. */
function asText(value: unknown): string {
  if (value === undefined) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * Resolves an input mapping against an evaluation context (`trigger`, `variables`, `steps`,
 * `item`, `index`, `run`): templates are evaluated, objects and arrays walked, literals kept.
 */
export async function resolveInput(
  value: unknown,
  context: Record<string, unknown>,
  options: EvaluateOptions = {},
): Promise<unknown> {
  if (typeof value === 'string') {
    const template = compileTemplate(value);
    if (template.kind === 'literal') return template.value;
    if (template.kind === 'value') return template.expression.evaluate(context, options);
    const texts = await Promise.all(
      template.parts.map(async (p) =>
        typeof p === 'string' ? p : asText(await p.evaluate(context, options)),
      ),
    );
    return texts.join('');
  }
  if (Array.isArray(value)) return Promise.all(value.map((v) => resolveInput(v, context, options)));
  if (value !== null && typeof value === 'object') {
    const entries = await Promise.all(
      Object.entries(value).map(async ([k, v]) => [k, await resolveInput(v, context, options)] as const),
    );
    return Object.fromEntries(entries);
  }
  return value;
}

/** Every node of an AST, depth first (JSONata's AST nests in several differently named keys). */
function* walk(node: unknown): Generator<Record<string, unknown>> {
  if (Array.isArray(node)) {
    for (const child of node) yield* walk(child);
  } else if (node !== null && typeof node === 'object') {
    yield node as Record<string, unknown>;
    for (const child of Object.values(node)) yield* walk(child);
  }
}

/** The plain names of a path expression (`a.b.c`), or null when any step is more than a name. */
export function plainPath(node: ExprNode): string[] | null {
  // jsonata's typings omit 'path', which the parser does produce.
  if ((node.type as string) !== 'path' || !Array.isArray(node.steps)) return null;
  const names: string[] = [];
  for (const step of node.steps) {
    if (step.type !== 'name' || typeof step.value !== 'string') return null;
    if (step.stages !== undefined || (step as { group?: unknown }).group !== undefined) return null;
    names.push(step.value);
  }
  return names;
}

/** Step ids an expression reads as `steps.<id>…` (the only way to reach another step's output). */
export function stepReferences(expression: Expression): string[] {
  const ids = new Set<string>();
  for (const node of walk(expression.ast())) {
    if (node.type !== 'path' || !Array.isArray(node.steps)) continue;
    const [first, second] = node.steps as ExprNode[];
    if (first?.type === 'name' && first.value === 'steps' && first.stages === undefined) {
      if (second?.type === 'name' && typeof second.value === 'string') ids.add(second.value);
    }
  }
  return [...ids];
}
