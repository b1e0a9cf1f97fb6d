import { describe, expect, it } from 'vitest';
import { SwarmError } from '../../src/errors/index.js';
import { MIN_REDACTED_LENGTH, Redactor } from '../../src/secrets/index.js';

const token = 'tok_3f9a+b/c?d=e&f ü~"\\x??>~';
const password = 'hunter22!';
const redactor = new Redactor({ API_TOKEN: token, DB_PASSWORD: password, PIN: '123' });

const b64 = Buffer.from(token).toString('base64');
const forms = {
  plain: token,
  base64: b64,
  'base64 without padding': b64.replace(/=+$/, ''),
  base64url: Buffer.from(token).toString('base64url'),
  'URL-encoded': encodeURIComponent(token),
  'form-encoded': new URLSearchParams({ q: token }).toString().slice(2),
  hex: Buffer.from(token).toString('hex'),
  'JSON-escaped': JSON.stringify(token).slice(1, -1),
};

/** Every key and string in a JSON value. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (value !== null && typeof value === 'object')
    return Object.entries(value).flatMap(([key, item]) => [key, ...strings(item)]);
  return [];
}

describe('Redactor', () => {
  it('the forms differ from each other (so each case tests something)', () => {
    expect(new Set(Object.values(forms)).size).toBe(Object.keys(forms).length);
    expect(forms.base64).toMatch(/[+/=]/);
    expect(forms.base64url).toMatch(/[-_]/);
  });

  it.each(Object.entries(forms))('removes the %s form from strings', (_form, text) => {
    const line = `calling api with ${text} now`;
    const out = redactor.redactText(line);
    expect(out).toContain('[REDACTED:API_TOKEN]');
    expect(out).not.toContain(text);
    expect(out.startsWith('calling api with ')).toBe(true);
    expect(out.endsWith(' now')).toBe(true);
  });

  it.each(Object.entries(forms))('removes the %s form from nested JSON keys and values', (_form, text) => {
    const output = {
      ok: true,
      count: 3,
      nested: [{ header: `Bearer ${text}` }, [text, 'keep me']],
      [`key-${text}`]: { deeper: { list: [1, `${text}${text}`] } },
      untouched: { a: 'plain' },
    };
    const out = redactor.redact(output);
    for (const piece of strings(out)) expect(piece).not.toContain(text);
    expect(out.nested[0]).toEqual({ header: 'Bearer [REDACTED:API_TOKEN]' });
    expect(out.nested[1]).toEqual(['[REDACTED:API_TOKEN]', 'keep me']);
    expect(out['key-[REDACTED:API_TOKEN]' as keyof typeof out]).toEqual({
      deeper: { list: [1, '[REDACTED:API_TOKEN][REDACTED:API_TOKEN]'] },
    });
    expect(out).toMatchObject({ ok: true, count: 3 });
    // Unchanged parts are shared; the input is not modified.
    expect(out.untouched).toBe(output.untouched);
    expect((output.nested[1] as string[])[0]).toBe(text);
  });

  it('finds a value inside a longer base64 text (a Basic authorization header)', () => {
    for (const user of ['a', 'ab', 'abc', 'admin']) {
      const header = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
      const out = redactor.redactText(header);
      expect(out, user).toContain('[REDACTED:DB_PASSWORD]');
      // What is left of the base64 cannot carry more than the edges of the value.
      const left = out.replace('Basic ', '').replace('[REDACTED:DB_PASSWORD]', '');
      expect(left.length, user).toBeLessThanOrEqual(Math.ceil(((user.length + 1) * 8) / 6) + 4);
    }
  });

  it(`leaves values shorter than ${MIN_REDACTED_LENGTH} characters alone, and says nothing it need not`, () => {
    expect(redactor.redactText('PIN 123, 1234')).toBe('PIN 123, 1234');
    expect(redactor.redact({ a: 'nothing secret here', n: 42 })).toEqual({ a: 'nothing secret here', n: 42 });
    expect(Redactor.none.redact({ token })).toEqual({ token });
    expect(new Redactor({ SHORT: 'abc' }).active).toBe(false);
  });

  it('prefers the longer value when one contains another, and can mask with ***', () => {
    const r = new Redactor({ OUTER: 'secret-value-long', INNER: 'value' }, { mask: '***' });
    expect(r.redactText('x secret-value-long y value z')).toBe('x *** y *** z');
    const named = new Redactor({ OUTER: 'secret-value-long', INNER: 'value' });
    expect(named.redactText('secret-value-long value')).toBe('[REDACTED:OUTER] [REDACTED:INNER]');
  });

  it('redacts numbers holding a value, and errors (message, stack, fields) keeping their class', () => {
    const r = new Redactor({ ACCOUNT: '987654321' });
    expect(r.redact({ id: 987654321, other: 5 })).toEqual({ id: '[REDACTED:ACCOUNT]', other: 5 });

    const error = new SwarmError('INPUT_INVALID', `bad token ${token}`, { context: { sent: b64 } });
    const out = redactor.redactError(error) as SwarmError;
    expect(out).toBeInstanceOf(SwarmError);
    expect(out.code).toBe('INPUT_INVALID');
    expect(out.message).toBe('bad token [REDACTED:API_TOKEN]');
    expect(out.stack).not.toContain(token);
    expect(out.context).toEqual({ sent: '[REDACTED:API_TOKEN]' });
    expect(error.message).toContain(token);
    expect(redactor.redactError(`thrown ${password}`).message).toBe('thrown [REDACTED:DB_PASSWORD]');
  });

  it('survives cycles', () => {
    const a: Record<string, unknown> = { v: token };
    a.self = a;
    const out = redactor.redact(a) as Record<string, unknown>;
    expect(out.v).toBe('[REDACTED:API_TOKEN]');
    expect(out.self).toBe(out);
  });
});
