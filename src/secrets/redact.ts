/**
 * Values shorter than this are not redacted: replacing every "abc" or "1" would shred logs and
 * outputs while hiding nothing worth hiding. Keep real secrets longer than this.
 */
export const MIN_REDACTED_LENGTH = 4;
/** Shifted base64 fragments (a value inside a longer base64 text) shorter than this are skipped. */
const MIN_FRAGMENT_LENGTH = 8;

export interface RedactorOptions {
  /**
   * What replaces a value: `name` gives `[REDACTED:<name>]`, or a fixed text such as `***`.
   * @default 'name'
   */
  readonly mask?: 'name' | string;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function base64Forms(bytes: Buffer): string[] {
  const standard = bytes.toString('base64');
  const url = bytes.toString('base64url');
  const forms = [standard, standard.replace(/=+$/, ''), url, url + '='.repeat(standard.length - url.length)];
  // Inside a longer base64 text (`user:password` in a Basic header) the value starts at one of
  // three byte offsets; the characters that depend on its bytes alone are the same whatever
  // surrounds it.
  for (let shift = 0; shift < 3; shift++) {
    const shifted = Buffer.concat([Buffer.alloc(shift), bytes]);
    const from = Math.ceil((8 * shift) / 6);
    const to = Math.floor((8 * (shift + bytes.length)) / 6);
    for (const alphabet of ['base64', 'base64url'] as const) {
      const fragment = shifted.toString(alphabet).slice(from, to);
      if (fragment.length >= MIN_FRAGMENT_LENGTH) forms.push(fragment);
    }
  }
  return forms;
}

/** Every form a value is redacted in. */
export function redactedForms(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  const uri = encodeURIComponent(value);
  const forms = [
    value,
    // Inside a JSON string (a log line holding serialised JSON): quotes, backslashes, controls.
    JSON.stringify(value).slice(1, -1),
    uri,
    uri.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()),
    encodeURI(value),
    // application/x-www-form-urlencoded: spaces as `+`, and !'()~ escaped too.
    new URLSearchParams([['', value]]).toString().slice(1),
    ...base64Forms(bytes),
    bytes.toString('hex'),
    bytes.toString('hex').toUpperCase(),
  ];
  return [...new Set(forms)].filter((form) => form.length >= MIN_REDACTED_LENGTH);
}

/**
 * Removes secret values from what a step produces before it is logged or stored: each value
 * and its JSON-escaped, URL-encoded (encodeURIComponent, lower-case escapes, form encoding),
 * base64 (standard and URL-safe, with and without padding, and inside longer base64 text) and hex
 * forms, replaced by `[REDACTED:<name>]` (or the fixed `mask`). Values shorter than
 * MIN_REDACTED_LENGTH are left alone. `redact` walks JSON values (object keys and values,
 * arrays, numbers whose digits hold a value) and errors; `redactText` a string.
 */
export class Redactor {
  private readonly pattern: RegExp | null;
  private readonly owners = new Map<string, string>();

  constructor(
    secrets: Readonly<Record<string, string>>,
    private readonly options: RedactorOptions = {},
  ) {
    for (const [name, value] of Object.entries(secrets)) {
      if (typeof value !== 'string' || value.length < MIN_REDACTED_LENGTH) continue;
      for (const form of redactedForms(value)) if (!this.owners.has(form)) this.owners.set(form, name);
    }
    // Longest first, so a value is replaced whole before any shorter value inside it.
    const forms = [...this.owners.keys()].sort((a, b) => b.length - a.length || (a < b ? -1 : 1));
    this.pattern = forms.length === 0 ? null : new RegExp(forms.map(escapeRegExp).join('|'), 'g');
  }

  /** A redactor that changes nothing. */
  static readonly none = new Redactor({});

  /** Whether there is anything to redact. */
  get active(): boolean {
    return this.pattern !== null;
  }

  private replacement(name: string): string {
    const mask = this.options.mask ?? 'name';
    return mask === 'name' ? `[REDACTED:${name}]` : mask;
  }

  redactText(text: string): string {
    if (this.pattern === null || text.length < MIN_REDACTED_LENGTH) return text;
    return text.replace(this.pattern, (form) => this.replacement(this.owners.get(form) ?? 'secret'));
  }

  /** A copy of a JSON value (or an error) without the values; unchanged parts are shared. */
  redact<T>(value: T): T {
    if (this.pattern === null) return value;
    return this.walk(value, new WeakMap()) as T;
  }

  /** An error like `error` (same class and fields) with the values removed from its message, stack and fields. */
  redactError(error: unknown): Error {
    const redacted = this.redact(error instanceof Error ? error : new Error(String(error)));
    return redacted as Error;
  }

  private walk(value: unknown, seen: WeakMap<object, unknown>): unknown {
    if (typeof value === 'string') return this.redactText(value);
    if (typeof value === 'number' || typeof value === 'bigint') {
      const text = String(value);
      const redacted = this.redactText(text);
      return redacted === text ? value : redacted;
    }
    if (value === null || typeof value !== 'object') return value;
    const known = seen.get(value);
    if (known !== undefined) return known;
    if (Array.isArray(value)) {
      const copy: unknown[] = [];
      seen.set(value, copy);
      let changed = false;
      for (const item of value) {
        const next = this.walk(item, seen);
        changed ||= next !== item;
        copy.push(next);
      }
      const result = changed ? copy : value;
      seen.set(value, result);
      return result;
    }
    if (value instanceof Error) return this.walkError(value, seen);
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) return value; // Dates, Buffers, Maps: not JSON
    const copy: Record<string, unknown> = proto === null ? Object.create(null) : {};
    seen.set(value, copy);
    let changed = false;
    for (const [key, item] of Object.entries(value)) {
      const nextKey = this.redactText(key);
      const next = this.walk(item, seen);
      changed ||= nextKey !== key || next !== item;
      copy[nextKey] = next;
    }
    const result = changed ? copy : value;
    seen.set(value, result);
    return result;
  }

  private walkError(error: Error, seen: WeakMap<object, unknown>): Error {
    const copy = Object.create(Object.getPrototypeOf(error) as object) as Error;
    seen.set(error, copy);
    let changed = false;
    for (const key of new Set([...Object.getOwnPropertyNames(error), 'cause'])) {
      const descriptor = Object.getOwnPropertyDescriptor(error, key);
      if (descriptor === undefined || !('value' in descriptor)) continue;
      const next = this.walk(descriptor.value, seen);
      changed ||= next !== descriptor.value;
      Object.defineProperty(copy, key, { ...descriptor, value: next });
    }
    // The message and stack are own properties in V8; the name may be on the prototype.
    const result = changed ? copy : error;
    seen.set(error, result);
    return result;
  }
}
