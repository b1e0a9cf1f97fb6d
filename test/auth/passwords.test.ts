import { describe, expect, it } from 'vitest';
import {
  CURRENT_SCRYPT,
  generatePassword,
  hashPassword,
  needsRehash,
  parsePasswordHash,
  verifyPassword,
} from '../../src/auth/index.js';

// Cheap parameters for most cases: the format and the logic do not depend on the cost.
const CHEAP = { ln: 10, r: 8, p: 1 };

describe('passwords', () => {
  it('hashes at OWASP parameters into a self-describing string, and verifies', async () => {
    expect(CURRENT_SCRYPT).toEqual({ ln: 17, r: 8, p: 1 });
    const stored = await hashPassword('correct horse battery staple');
    expect(stored).toMatch(/^\$scrypt\$ln=17,r=8,p=1\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=$/);
    const parsed = parsePasswordHash(stored)!;
    expect(parsed.salt).toHaveLength(16);
    expect(parsed.key).toHaveLength(32);
    expect(await verifyPassword('correct horse battery staple', stored)).toBe(true);
    expect(await verifyPassword('correct horse battery stapl', stored)).toBe(false);
    expect(needsRehash(stored)).toBe(false);
  });

  it('salts every hash', async () => {
    const [a, b] = await Promise.all([
      hashPassword('same password!', CHEAP),
      hashPassword('same password!', CHEAP),
    ]);
    expect(a).not.toBe(b);
    expect(await verifyPassword('same password!', a)).toBe(true);
    expect(await verifyPassword('same password!', b)).toBe(true);
  });

  it('refuses wrong passwords, malformed hashes and no hash at all', async () => {
    const stored = await hashPassword('a long enough password', CHEAP);
    expect(await verifyPassword('A long enough password', stored)).toBe(false);
    expect(await verifyPassword('', stored)).toBe(false);
    expect(await verifyPassword('a long enough password', null)).toBe(false);
    expect(await verifyPassword('x', 'password123')).toBe(false);
    expect(await verifyPassword('x', '$scrypt$ln=40,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA')).toBe(false);
    expect(await verifyPassword('x', '$2b$10$bcrypt-hash-from-elsewhere')).toBe(false);
  });

  it('asks for a rehash when the stored parameters are below the current ones', async () => {
    const weak = await hashPassword('a long enough password', CHEAP);
    expect(needsRehash(weak)).toBe(true);
    expect(needsRehash(weak, CHEAP)).toBe(false);
    expect(needsRehash(weak, { ...CHEAP, r: 16 })).toBe(true);
    expect(needsRehash('not a hash')).toBe(true);
  });

  it('treats the same text the same however it is composed (NFC)', async () => {
    const stored = await hashPassword('caf\u00e9 au lait 1234', CHEAP);
    expect(await verifyPassword('cafe\u0301 au lait 1234', stored)).toBe(true);
  });

  it('generates passwords of 20 url-safe characters', () => {
    const password = generatePassword();
    expect(password).toMatch(/^[A-Za-z0-9_-]{20}$/);
    expect(generatePassword()).not.toBe(password);
  });
});
