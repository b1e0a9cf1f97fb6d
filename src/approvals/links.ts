/**
 * Signed one-time approval links: `/approve/<token>`, usable without signing in (from an email or
 * a chat message), so the token is the credential. It is
 *
 *   v<key version>.<approval id>.<nonce>.<expiry, epoch seconds>.<HMAC-SHA256, base64url>
 *
 * over (approval id, nonce, expiry), keyed by a key derived (HKDF) from a master key of the
 * secrets keyring: every server and worker that can read secrets can make and check links, and
 * no key is stored or shown anywhere. The version names the master key, so links made before a
 * rotation keep working while their key is still in the keyring. The nonce is an
 * `approval_links` row, which is what makes a link usable once.
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import { SwarmError } from '../errors/index.js';
import type { Keyring } from '../secrets/index.js';
import { newId, toDbTimestamp, type DatabaseHandle, type SwarmDatabase } from '../storage/index.js';

const KEY_INFO = 'swarm approval links v1';
const TOKEN = /^v(\d{1,6})\.([0-9a-f-]{36})\.([0-9a-f-]{36})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/;

/** A link as it is made: the token is shown once, to whoever asked for it. */
export interface ApprovalLink {
  readonly id: string;
  readonly token: string;
  /** `/approve/<token>`: relative to the server's origin. */
  readonly path: string;
  readonly expiresAt: string;
}

/** What a checked token names. */
export interface LinkClaim {
  readonly approvalId: string;
  readonly linkId: string;
  readonly expiresAt: Date;
}

function linkKey(keyring: Keyring, version: number): Buffer {
  return Buffer.from(hkdfSync('sha256', keyring.key(version), Buffer.alloc(0), KEY_INFO, 32));
}

function mac(key: Buffer, approvalId: string, nonce: string, expires: number): Buffer {
  return createHmac('sha256', key).update(`${approvalId}\n${nonce}\n${expires}`).digest();
}

/**
 * Makes a link to a waiting approval of `ownerId`'s, inside the caller's transaction when given.
 * The approval must exist and still wait (checked by the caller: the route and the step know it).
 */
export async function createLink(
  db: Kysely<SwarmDatabase>,
  keyring: Keyring,
  request: { ownerId: string; approvalId: string; createdBy: string; expiresAt: Date },
  now: Date = new Date(),
): Promise<ApprovalLink> {
  const id = newId();
  // Whole seconds: the token carries them, and the row must say exactly what the token does.
  const expires = Math.floor(request.expiresAt.getTime() / 1000);
  const { version } = keyring.current();
  const signature = mac(linkKey(keyring, version), request.approvalId, id, expires).toString('base64url');
  const token = `v${version}.${request.approvalId}.${id}.${expires}.${signature}`;
  const expiresAt = new Date(expires * 1000).toISOString();
  await db
    .insertInto('approval_links')
    .values({
      id,
      owner_id: request.ownerId,
      waitpoint_id: request.approvalId,
      created_by: request.createdBy,
      expires_at: toDbTimestamp(expiresAt),
      created_at: toDbTimestamp(now),
    })
    .execute();
  return { id, token, path: `/approve/${token}`, expiresAt };
}

/**
 * What a token names, if its signature is right and it has not expired: APPROVAL_LINK_INVALID
 * for a malformed or tampered token (or one signed with a key no longer configured), and
 * APPROVAL_LINK_EXPIRED past its expiry. Whether it was used is the database's to say.
 */
export function verifyToken(keyring: Keyring, token: string, now: Date = new Date()): LinkClaim {
  const invalid = () =>
    new SwarmError('APPROVAL_LINK_INVALID', 'this approval link is not valid (mistyped or altered)');
  const match = TOKEN.exec(token);
  if (match === null) throw invalid();
  const [, version, approvalId, linkId, expiresText, signature] = match;
  let key: Buffer;
  try {
    key = linkKey(keyring, Number(version));
  } catch {
    throw invalid();
  }
  const expires = Number(expiresText);
  const expected = mac(key, approvalId!, linkId!, expires);
  // The text is compared, not its decoding: base64url's last character carries unused bits, so
  // several spellings decode to one signature, and a link must have exactly one.
  const given = Buffer.from(signature!, 'utf8');
  const wanted = Buffer.from(expected.toString('base64url'), 'utf8');
  if (given.length !== wanted.length || !timingSafeEqual(given, wanted)) throw invalid();
  if (expires * 1000 <= now.getTime())
    throw new SwarmError(
      'APPROVAL_LINK_EXPIRED',
      `this approval link expired at ${new Date(expires * 1000).toISOString()}`,
    );
  return { approvalId: approvalId!, linkId: linkId!, expiresAt: new Date(expires * 1000) };
}

/**
 * Marks the link used, in the transaction that decides the approval: a conditional update, so
 * of two requests with one link exactly one gets true.
 */
export async function useLink(
  trx: Kysely<SwarmDatabase>,
  claim: LinkClaim,
  now: Date,
): Promise<{ ownerId: string; createdBy: string } | null> {
  const at = toDbTimestamp(now);
  const result = await trx
    .updateTable('approval_links')
    .set({ used_at: at })
    .where('id', '=', claim.linkId)
    .where('waitpoint_id', '=', claim.approvalId)
    .where('used_at', 'is', null)
    .executeTakeFirst();
  if (result.numUpdatedRows === 0n) return null;
  const row = await trx
    .selectFrom('approval_links')
    .select(['owner_id', 'created_by'])
    .where('id', '=', claim.linkId)
    .executeTakeFirstOrThrow();
  return { ownerId: row.owner_id, createdBy: row.created_by };
}

/** The link's row, to tell a used link from an unknown one (a deleted approval's). */
export async function findLink(
  handle: DatabaseHandle,
  claim: LinkClaim,
): Promise<{ ownerId: string; createdBy: string; usedAt: string | null } | null> {
  const row = await handle.db
    .selectFrom('approval_links')
    .select(['owner_id', 'created_by', 'used_at'])
    .where('id', '=', claim.linkId)
    .where('waitpoint_id', '=', claim.approvalId)
    .executeTakeFirst();
  return row === undefined ? null : { ownerId: row.owner_id, createdBy: row.created_by, usedAt: row.used_at };
}
