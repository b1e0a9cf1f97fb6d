/**
 * JSON values stored inline or as blobs. A value whose JSON text is over SWARM_PAYLOAD_INLINE_MAX
 * bytes is stored as a blob, and its column holds a reference instead:
 *
 *     {"$blob": "sha256:<hex>", "size": <bytes>}
 *
 * A user's value that looks like a reference must stay a value: any top-level object with a
 * `$blob` or `$blob:literal` key is stored wrapped as `{"$blob:literal": <value>}` and unwrapped
 * on reading, so nothing a user writes is ever read as a reference.
 */
import type { Kysely } from 'kysely';
import {
  fromDbJson,
  newId,
  nowTimestamp,
  toDbJson,
  type BLOB_SOURCES,
  type SwarmDatabase,
} from '../storage/index.js';
import { blobSettings } from './settings.js';
import { getBlob, isSha256, putBlob, type BlobHandle } from './store.js';

export const REF_KEY = '$blob';
export const LITERAL_KEY = '$blob:literal';

export interface BlobReference {
  readonly $blob: string;
  readonly size: number;
}

/** Which row references a blob: the owner it is scoped to, and what the sweep checks exists. */
export interface BlobOwner {
  readonly ownerId: string;
  readonly source: (typeof BLOB_SOURCES)[number];
  readonly sourceId: string;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Whether a stored (decoded, not yet resolved) value is a reference to a blob. */
export function isBlobReference(value: unknown): value is BlobReference {
  if (!isRecord(value)) return false;
  const keys = Object.keys(value);
  return (
    keys.length === 2 &&
    typeof value[REF_KEY] === 'string' &&
    value[REF_KEY].startsWith('sha256:') &&
    isSha256(value[REF_KEY].slice('sha256:'.length)) &&
    typeof value.size === 'number'
  );
}

/** A reference's column text is a few dozen bytes: anything longer is an inline value. */
const REFERENCE_TEXT_MAX = 200;

/** The reference a column's stored text is, or null when it holds a value inline. */
export function referenceInText(text: string | null): BlobReference | null {
  if (text === null || text.length > REFERENCE_TEXT_MAX) return null;
  const value: unknown = JSON.parse(text);
  return isBlobReference(value) ? value : null;
}

export function referenceSha(ref: BlobReference): string {
  return ref.$blob.slice('sha256:'.length);
}

function escape(value: unknown): unknown {
  if (isRecord(value) && (Object.hasOwn(value, REF_KEY) || Object.hasOwn(value, LITERAL_KEY))) {
    return { [LITERAL_KEY]: value };
  }
  return value;
}

/**
 * A stored value as read, with a user's escaped value unwrapped and a reference left as it is
 * (for views that link to a large value instead of carrying it).
 */
export function unescapeStored(value: unknown): unknown {
  if (isRecord(value) && Object.keys(value).length === 1 && Object.hasOwn(value, LITERAL_KEY)) {
    return value[LITERAL_KEY];
  }
  return value;
}

/**
 * The column text for `value`: its JSON, or a reference to a blob holding it when it is over
 * the threshold (then `owner` is recorded as referencing it, in the same transaction when
 * `handle.db` is one). Errors name `field`, like toDbJson's. `text`, when the caller measured
 * it already, is the value's JSON, so a large value is not serialised twice.
 */
export async function storeJson(
  handle: BlobHandle,
  value: unknown,
  owner: BlobOwner,
  field = 'value',
  text = toDbJson(value, field),
): Promise<string> {
  if (Buffer.byteLength(text, 'utf8') <= blobSettings().inlineMax) return inlineJson(value, text, field);
  return JSON.stringify(await spill(handle, text, owner));
}

/**
 * `value` as it is stored inside a larger JSON document (a run's step outputs): escaped if it
 * looks like a reference, or a reference to a blob holding it when it is over the threshold.
 */
export async function storeValue(
  handle: BlobHandle,
  value: unknown,
  owner: BlobOwner,
  field = 'value',
): Promise<unknown> {
  const text = toDbJson(value, field);
  if (Buffer.byteLength(text, 'utf8') <= blobSettings().inlineMax) return escape(value);
  return spill(handle, text, owner);
}

/**
 * Records `owner` as referencing the blob `ref` already names, without its content: the blob's
 * `last_referenced_at` is moved on first, so the sweep's grace period covers this writer as it
 * covers putBlob's. False when the blob is gone (the caller stores the value again).
 */
export async function keepReference(
  handle: BlobHandle,
  ref: BlobReference,
  owner: BlobOwner,
): Promise<boolean> {
  const sha256 = referenceSha(ref);
  const touched = await handle.db
    .updateTable('blobs')
    .set({ last_referenced_at: nowTimestamp() })
    .where('id', '=', sha256)
    .executeTakeFirst();
  if (Number(touched.numUpdatedRows) === 0) return false;
  await addReferences(handle.db, [{ ...owner, sha256 }]);
  return true;
}

/** Whether `value` is stored as something else even when small (see `escape`). */
export function needsEscape(value: unknown): boolean {
  return escape(value) !== value;
}

async function spill(handle: BlobHandle, text: string, owner: BlobOwner): Promise<BlobReference> {
  const info = await putBlob(handle, text);
  await addReferences(handle.db, [{ ...owner, sha256: info.sha256 }]);
  return { [REF_KEY]: `sha256:${info.sha256}`, size: info.size };
}

/** The column text for a value known to be small enough to stay inline (escaped if need be). */
export function inlineJson(value: unknown, text = toDbJson(value), field = 'value'): string {
  const escaped = escape(value);
  return escaped === value ? text : toDbJson(escaped, field);
}

export async function addReferences(
  db: Kysely<SwarmDatabase>,
  refs: readonly (BlobOwner & { sha256: string })[],
): Promise<void> {
  for (const ref of refs) {
    await db
      .insertInto('blob_refs')
      .values({
        id: newId(),
        sha256: ref.sha256,
        owner_id: ref.ownerId,
        source: ref.source,
        source_id: ref.sourceId,
      })
      .onConflict((oc) => oc.columns(['sha256', 'source', 'source_id']).doNothing())
      .execute();
  }
}

/** A stored value as the user wrote it: a reference read back from its blob, escapes undone. */
export async function resolveStored(db: Kysely<SwarmDatabase>, value: unknown): Promise<unknown> {
  if (isBlobReference(value)) return JSON.parse((await getBlob(db, referenceSha(value))).toString('utf8'));
  return unescapeStored(value);
}

/** A JSON column's text read back whole (null stays null). */
export async function loadJson<T = unknown>(
  db: Kysely<SwarmDatabase>,
  text: string | null,
): Promise<T | null> {
  if (text === null) return null;
  return (await resolveStored(db, JSON.parse(text))) as T;
}

/**
 * A stored JSON map of entries with an `output` (a run's step states, a chain's step results),
 * and the keys of those whose output may be a reference or an escape: none when the text lacks
 * the `"$blob` key, which neither can be stored without (most rows).
 */
export function parseOutputs<T extends { readonly output?: unknown }>(
  text: string | null,
): [Record<string, T>, string[]] {
  const entries = fromDbJson<Record<string, T>>(text) ?? {};
  if (text === null || !text.includes('"$blob')) return [entries, []];
  return [entries, Object.keys(entries).filter((key) => entries[key]?.output !== undefined)];
}

/**
 * For views: a reference stays a reference with the URL to fetch it (so a list does not carry
 * hundreds of megabytes), anything else is unescaped.
 */
export function viewStored(value: unknown): unknown {
  if (isBlobReference(value)) {
    return { ...value, url: `/api/v1/blobs/${referenceSha(value)}` };
  }
  return unescapeStored(value);
}

/**
 * A value shown whole in a view of one thing (a task, a run) up to this size; above it, the
 * reference and its URL (`GET /api/v1/blobs/{sha256}`) stand for it, so a 200 MB output does
 * not become one 200 MB JSON answer.
 */
export const VIEW_WHOLE_MAX = 16 * 1024 * 1024;

/** A JSON column's text for a view of one thing: whole up to VIEW_WHOLE_MAX, else a link. */
export async function viewJson(db: Kysely<SwarmDatabase>, text: string | null): Promise<unknown> {
  if (text === null) return null;
  return viewValue(db, JSON.parse(text));
}

/** A stored (decoded) value for a view of one thing: whole up to VIEW_WHOLE_MAX, else a link. */
export async function viewValue(db: Kysely<SwarmDatabase>, value: unknown): Promise<unknown> {
  if (isBlobReference(value) && value.size <= VIEW_WHOLE_MAX) return resolveStored(db, value);
  return viewStored(value);
}

/**
 * Rows about to be inserted whose JSON `column` is over the threshold: the value (`values[j]`
 * for `rows[j]`) goes to the blob store, referenced by that row, and the column gets the
 * reference.
 */
export async function storeLargeColumns<C extends string>(
  handle: BlobHandle,
  rows: (Record<C, string> & { id: string; owner_id: string })[],
  column: C,
  values: readonly unknown[],
  source: BlobOwner['source'],
  field: (j: number) => string,
): Promise<void> {
  const max = blobSettings().inlineMax;
  for (let j = 0; j < rows.length; j++) {
    const row = rows[j]!;
    const text: string = row[column];
    // A UTF-16 unit is at most 3 UTF-8 bytes: most rows are ruled out without counting.
    if (text.length * 3 <= max || Buffer.byteLength(text, 'utf8') <= max) continue;
    (row as Record<C, string>)[column] = await storeJson(
      handle,
      values[j] ?? null,
      { ownerId: row.owner_id, source, sourceId: row.id },
      field(j),
    );
  }
}
