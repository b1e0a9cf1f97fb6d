import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Password hashing with scrypt from `node:crypto`. Why scrypt rather than Argon2id: it is one of
 * the memory-hard functions OWASP's Password Storage Cheat Sheet lists (Argon2id, scrypt,
 * bcrypt), it ships with Node (no native add-on to build on every platform, nothing to keep
 * patched beside OpenSSL), and its cost parameters can be raised later: every hash carries its
 * own, and a hash below the current ones is replaced on the next successful sign-in.
 */
export interface ScryptParams {
  /** log2 of the CPU/memory cost N. */
  readonly ln: number;
  /** Block size. */
  readonly r: number;
  /** Parallelisation. */
  readonly p: number;
}

/**
 * OWASP's current minimum for scrypt: N=2^17, r=8, p=1 (128 MiB and ~0.1-0.5 s per hash). Hashes
 * run on libuv's thread pool (4 threads by default), so at most 4 at once: 512 MiB at the peak.
 */
export const CURRENT_SCRYPT: ScryptParams = Object.freeze({ ln: 17, r: 8, p: 1 });

const SALT_BYTES = 16;
const KEY_BYTES = 32;
/** Passwords longer than this are refused before hashing: hashing cost must not be the caller's choice. */
export const MAX_PASSWORD_LENGTH = 1024;
/** Below this, a password is refused (the seeded demo user is the one exception). */
export const MIN_PASSWORD_LENGTH = 12;

/** scrypt needs 128·N·r bytes; Node refuses more than `maxmem` (32 MiB by default). */
function options(params: ScryptParams): ScryptOptions {
  const N = 2 ** params.ln;
  return { N, r: params.r, p: params.p, maxmem: 128 * N * params.r + 16 * 1024 * 1024 };
}

function derive(password: string, salt: Buffer, params: ScryptParams, length: number): Promise<Buffer> {
  // The asynchronous form runs on libuv's thread pool: a login does not stall the event loop.
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, length, options(params), (error, key) =>
      error === null ? resolve(key) : reject(error),
    ),
  );
}

/** `$scrypt$ln=17,r=8,p=1$<salt base64>$<hash base64>`: the parameters travel with the hash. */
export async function hashPassword(password: string, params: ScryptParams = CURRENT_SCRYPT): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, params, KEY_BYTES);
  return `$scrypt$ln=${params.ln},r=${params.r},p=${params.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

interface ParsedHash {
  readonly params: ScryptParams;
  readonly salt: Buffer;
  readonly key: Buffer;
}

const FORMAT =
  /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,3}),p=(\d{1,3})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

export function parsePasswordHash(stored: string): ParsedHash | null {
  const match = FORMAT.exec(stored);
  if (match === null) return null;
  const params = { ln: Number(match[1]), r: Number(match[2]), p: Number(match[3]) };
  // Bounds keep a tampered row from asking for gigabytes or hours.
  if (params.ln < 1 || params.ln > 22 || params.r < 1 || params.r > 32 || params.p < 1 || params.p > 16)
    return null;
  const salt = Buffer.from(match[4]!, 'base64');
  const key = Buffer.from(match[5]!, 'base64');
  if (salt.length < 8 || key.length < 16) return null;
  return { params, salt, key };
}

/** Whether `password` is the one `stored` was made from. A malformed or absent hash matches nothing. */
export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  const parsed = stored === null ? null : parsePasswordHash(stored);
  if (parsed === null) return false;
  const key = await derive(password, parsed.salt, parsed.params, parsed.key.length);
  return timingSafeEqual(key, parsed.key);
}

/** Whether a (matching) hash was made with weaker parameters than `current`: rehash it then. */
export function needsRehash(stored: string, current: ScryptParams = CURRENT_SCRYPT): boolean {
  const parsed = parsePasswordHash(stored);
  if (parsed === null) return true;
  const { ln, r, p } = parsed.params;
  return ln < current.ln || r < current.r || p < current.p || parsed.key.length < KEY_BYTES;
}

/** A password for a person to be given once: 20 characters of base64url (120 random bits). */
export function generatePassword(): string {
  return randomBytes(15).toString('base64url');
}
