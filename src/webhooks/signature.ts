import { createHmac, randomBytes } from 'node:crypto';
import { InputError } from '../errors/index.js';

/**
 * Standard Webhooks signing (https://www.standardwebhooks.com/): the secret is `whsec_` and the
 * base64 of 24–64 random bytes; a signature is `v1,` and the base64 HMAC-SHA256, keyed with
 * those bytes, of `<webhook-id>.<webhook-timestamp>.<body>`.
 */
export const SECRET_PREFIX = 'whsec_';
const SECRET_PATTERN = /^whsec_([A-Za-z0-9+/]+={0,2})$/;
const MIN_SECRET_BYTES = 24;
const MAX_SECRET_BYTES = 64;

/** A new signing secret: 32 random bytes, as receivers' Standard Webhooks libraries expect them. */
export function generateSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64')}`;
}

/** The key bytes of a `whsec_` secret; the message never quotes the secret itself. */
export function secretKey(secret: string, field = 'secret'): Buffer {
  const match = SECRET_PATTERN.exec(secret);
  if (match === null) throw new InputError(field, 'expected "whsec_" followed by base64');
  const key = Buffer.from(match[1]!, 'base64');
  // Round-tripping catches base64 of a wrong length, which Buffer.from silently truncates.
  if (key.toString('base64').replace(/=+$/, '') !== match[1]!.replace(/=+$/, ''))
    throw new InputError(field, 'the part after "whsec_" is not valid base64');
  if (key.length < MIN_SECRET_BYTES || key.length > MAX_SECRET_BYTES)
    throw new InputError(
      field,
      `must decode to ${MIN_SECRET_BYTES}–${MAX_SECRET_BYTES} bytes, not ${key.length}`,
    );
  return key;
}

/** The `webhook-signature` header value for one attempt. */
export function signatureHeader(secret: string, id: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', secretKey(secret)).update(`${id}.${timestamp}.${body}`, 'utf8');
  return `v1,${mac.digest('base64')}`;
}
