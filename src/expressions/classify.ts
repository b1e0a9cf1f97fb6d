/**
 * Which expressions may run in the caller's thread: those made only of parts that cost little
 * per byte of the data they read and that jsonata's per-node time and depth checks interrupt —
 * paths, literals, array and object constructors, arithmetic, comparison, boolean and `&`
 * operators, conditionals, blocks, and calls of the built-ins below. Everything else (function
 * definitions, variables, ranges `..`, regular expressions, `$pad`, `$join`, sorting, grouping,
 * a path step that maps an expression over a list, …) runs in an evaluator thread, which the
 * main thread can stop. The templates a workflow evaluates thousands of times (`{{ item }}`,
 * `{{ steps.a.output }}`, `{{ $count(steps.fan.output) }}`) are all inline: they never pay for
 * the thread.
 */

type Node = Record<string, unknown>;

const OPERATORS = new Set(['+', '-', '*', '/', '%', '=', '!=', '<', '<=', '>', '>=', '&', 'and', 'or', 'in']);

/**
 * Built-ins that take neither a function nor a regular expression and whose cost is small per
 * byte of their arguments (native, or a loop over list items), so even over a context of many
 * megabytes they hold the event loop for milliseconds. Left out although linear: those that walk
 * a string character by character in JavaScript (`$length`, `$substring`, `$split` take seconds
 * on 5 MB) and those that copy one (`$join`, `$uppercase`, `$base64encode`, …).
 */
const INLINE_FUNCTIONS = new Set([
  'count', 'sum', 'max', 'min', 'average', 'string', 'number', 'abs', 'floor', 'ceil', 'round',
  'sqrt', 'boolean', 'not', 'exists', 'type', 'keys', 'lookup', 'merge', 'append', 'contains',
  'substringBefore', 'substringAfter', 'trim', 'now', 'millis', 'random', 'error', 'assert',
]); // prettier-ignore

/** Node properties of focus (`@`), index (`#`) and parent (`%`) bindings and of grouping. */
const MAPPING_KEYS = ['focus', 'index', 'tuple', 'ancestor', 'group', 'seekingParent'];

export function runsInline(ast: unknown): boolean {
  return simple(ast);
}

function simple(node: unknown): boolean {
  if (Array.isArray(node)) return node.every(simple);
  if (node === null || typeof node !== 'object') return true;
  const n = node as Node;
  if (MAPPING_KEYS.some((key) => n[key] !== undefined && n[key] !== false)) return false;
  if ('type' in n && !simpleNode(n)) return false;
  // A call's procedure is checked by simpleCall: its variable names a built-in.
  return Object.entries(n).every(([key, child]) => key === 'procedure' || simple(child));
}

function simpleNode(n: Node): boolean {
  switch (n.type) {
    case 'path':
      // After the first step only names: `a.b.c` walks the data; `a.(expr)` or `a.$f()` would
      // evaluate an expression once per item, and with `$$` the result grows as items × data.
      return (
        Array.isArray(n.steps) &&
        (n.steps as Node[]).slice(1).every((s) => s.type === 'name' || s.type === 'wildcard')
      );
    case 'binary':
      return OPERATORS.has(n.value as string);
    case 'unary':
      return n.value === '-' || n.value === '[' || n.value === '{';
    case 'variable':
      // `$` (the context) and `$$` (the root) only: no bound or built-in function as a value.
      return n.value === '' || n.value === '$';
    case 'function':
      return simpleCall(n);
    case 'name':
    case 'string':
    case 'number':
    case 'value':
    case 'wildcard':
    case 'condition':
    case 'block':
    case 'filter':
      return true;
    default:
      return false;
  }
}

function simpleCall(n: Node): boolean {
  const procedure = n.procedure as Node | undefined;
  if (procedure?.type !== 'variable' || typeof procedure.value !== 'string') return false;
  const name = procedure.value;
  const args = Array.isArray(n.arguments) ? (n.arguments as Node[]) : [];
  if (!INLINE_FUNCTIONS.has(name)) return false;
  // Prettified $string indents every line by its depth; $now formats a picture.
  if ((name === 'string' || name === 'now') && args.length > (name === 'now' ? 0 : 1)) return false;
  return true;
}
