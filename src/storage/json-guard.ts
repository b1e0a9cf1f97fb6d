/**
 * Limits on the shape of JSON that users send, checked without recursion: a value nested
 * 100,000 deep must get a clear error here, not overflow the stack in whatever walks it next
 * (JSON.stringify, a schema validator, a sanitiser).
 */

export interface JsonProblem {
  /** Where, as dotted path from the root's name: `body.input.items.3.name`. */
  readonly field: string;
  readonly message: string;
}

export interface JsonGuardOptions {
  /** Deepest nesting of objects and arrays allowed; the root container is level 1. */
  readonly maxDepth: number;
  /** Whether a NUL character in a string or a key is a problem (PostgreSQL cannot store it). */
  readonly rejectNul: boolean;
}

export const NUL_MESSAGE = 'contains a NUL character (\\u0000), which Swarm does not accept in text';

export function depthMessage(maxDepth: number, setting?: string): string {
  return `is nested deeper than ${maxDepth} levels${setting === undefined ? '' : ` (${setting})`}`;
}

/**
 * True when JSON text nests objects/arrays deeper than `maxDepth`. A scan of the characters,
 * before parsing: it allocates nothing and stops at the first level too deep, so it is safe to
 * run on any text before anything recursive sees it. Malformed text is left to the parser.
 */
export function jsonTextTooDeep(text: string, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > maxDepth) return true;
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) {
      depth--;
    }
  }
  return false;
}

interface Frame {
  readonly container: Readonly<Record<string, unknown>> | readonly unknown[];
  /** An object's keys; null for an array. */
  readonly keys: readonly string[] | null;
  /** The next child to visit; the one being visited is `next - 1`. */
  next: number;
}

/**
 * The first problem in a parsed value: nesting deeper than `maxDepth`, or (with `rejectNul`) a
 * NUL in a string or a key. Iterative, depth first, with the path kept by the frames themselves,
 * so naming the field costs nothing until there is one to name.
 */
export function findJsonProblem(value: unknown, root: string, options: JsonGuardOptions): JsonProblem | null {
  const stack: Frame[] = [];
  const path = (extra?: string): string => {
    const parts = [root];
    for (const frame of stack) {
      const index = frame.next - 1;
      parts.push(frame.keys === null ? String(index) : frame.keys[index]!);
    }
    if (extra !== undefined) parts.push(extra);
    return parts.join('.');
  };
  const visit = (child: unknown): JsonProblem | null => {
    if (typeof child === 'string') {
      return options.rejectNul && child.includes('\u0000') ? { field: path(), message: NUL_MESSAGE } : null;
    }
    if (child === null || typeof child !== 'object') return null;
    if (stack.length + 1 > options.maxDepth)
      return { field: path(), message: depthMessage(options.maxDepth) };
    if (Array.isArray(child)) {
      stack.push({ container: child, keys: null, next: 0 });
      return null;
    }
    const keys = Object.keys(child);
    if (options.rejectNul) {
      const bad = keys.find((k) => k.includes('\u0000'));
      if (bad !== undefined) return { field: path(), message: `has a key that ${NUL_MESSAGE}` };
    }
    stack.push({ container: child as Record<string, unknown>, keys, next: 0 });
    return null;
  };

  let problem = visit(value);
  while (problem === null && stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    const length = frame.keys === null ? (frame.container as readonly unknown[]).length : frame.keys.length;
    if (frame.next >= length) {
      stack.pop();
      continue;
    }
    const index = frame.next++;
    const child =
      frame.keys === null
        ? (frame.container as readonly unknown[])[index]
        : (frame.container as Record<string, unknown>)[frame.keys[index]!];
    problem = visit(child);
  }
  return problem;
}

/**
 * How deep `value` nests, up to `limit` + 1 (it stops there), and whether any string or key in it
 * has a character `needsCleaning` says must be replaced. Iterative, for the same reason as above.
 */
export function measureJson(
  value: unknown,
  limit: number,
  needsCleaning: (text: string) => boolean,
): { readonly tooDeep: boolean; readonly dirty: boolean } {
  let dirty = false;
  // Two parallel stacks rather than one of {value, depth}: this runs on every JSON write.
  const values: unknown[] = [value];
  const depths: number[] = [0];
  while (values.length > 0) {
    const item = values.pop();
    const depth = depths.pop()!;
    if (typeof item === 'string') {
      if (!dirty && needsCleaning(item)) dirty = true;
      continue;
    }
    if (item === null || typeof item !== 'object') continue;
    if (depth >= limit) return { tooDeep: true, dirty };
    if (Array.isArray(item)) {
      for (const child of item) {
        if (child !== null && (typeof child === 'object' || typeof child === 'string')) {
          values.push(child);
          depths.push(depth + 1);
        }
      }
      continue;
    }
    for (const key of Object.keys(item)) {
      if (!dirty && needsCleaning(key)) dirty = true;
      const child = (item as Record<string, unknown>)[key];
      if (child !== null && (typeof child === 'object' || typeof child === 'string')) {
        values.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return { tooDeep: false, dirty };
}
