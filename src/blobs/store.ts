/**
 * Content-addressed bytes: stored once under the SHA-256 of their content, in the database
 * (`blob_chunks`, ~1 MiB per row) or in SWARM_BLOB_DIR. The `blobs` row exists only once the
 * bytes are complete, so a reader that finds it finds all of them.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Kysely } from 'kysely';
import { SwarmError } from '../errors/index.js';
import { newId, nowTimestamp, type DialectAdapter, type SwarmDatabase } from '../storage/index.js';
import { blobSettings } from './settings.js';

export const CHUNK_BYTES = 1024 * 1024;

/** A database (or a transaction of it) and its dialect: what blob functions write through. */
export interface BlobHandle {
  readonly db: Kysely<SwarmDatabase>;
  readonly dialect: DialectAdapter;
}

export interface BlobInfo {
  /** Lowercase hex. */
  readonly sha256: string;
  readonly size: number;
}

const SHA256 = /^[0-9a-f]{64}$/;

export function isSha256(text: string): boolean {
  return SHA256.test(text);
}

/**
 * Stores `content` unless the same bytes are stored already, and marks it referenced now (the
 * sweep spares a blob referenced within its grace period, so a row about to reference it is
 * safe). Inside a transaction it writes through it; otherwise (PostgreSQL) in one of its own.
 */
export async function putBlob(handle: BlobHandle, content: Buffer | string): Promise<BlobInfo> {
  const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  const info = { sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length };
  await writeOnce(handle, info, async (db) => {
    const dir = blobSettings().dir;
    if (dir === null) {
      for (let seq = 0, at = 0; at < bytes.length || seq === 0; seq++, at += CHUNK_BYTES) {
        await db
          .insertInto('blob_chunks')
          .values({ id: newId(), sha256: info.sha256, seq, data: bytes.subarray(at, at + CHUNK_BYTES) })
          .onConflict((oc) => oc.columns(['sha256', 'seq']).doNothing())
          .execute();
      }
      return 'db';
    }
    await writeFileOnce(dir, info.sha256, async (file) => {
      await file.writeFile(bytes);
    });
    return 'dir';
  });
  return info;
}

/**
 * Stores what `stream` yields without holding it all: it is written to a temporary file while
 * it is hashed (its address is known only at the end), then moved into place or copied into
 * the database chunk by chunk.
 */
export async function putBlobStream(
  handle: BlobHandle,
  stream: AsyncIterable<Buffer | string>,
  scratch: string,
): Promise<BlobInfo> {
  const dir = blobSettings().dir ?? scratch;
  await mkdir(path.join(dir, 'tmp'), { recursive: true, mode: 0o700 });
  const temp = path.join(dir, 'tmp', `${randomBytes(8).toString('hex')}.part`);
  const hash = createHash('sha256');
  let size = 0;
  try {
    const file = await open(temp, 'wx', 0o600);
    try {
      for await (const piece of stream) {
        const bytes = typeof piece === 'string' ? Buffer.from(piece, 'utf8') : piece;
        hash.update(bytes);
        size += bytes.length;
        await file.write(bytes);
      }
    } finally {
      await file.close();
    }
    const info = { sha256: hash.digest('hex'), size };
    await writeOnce(handle, info, async (db) => {
      if (blobSettings().dir !== null) {
        await mkdir(path.dirname(blobPath(dir, info.sha256)), { recursive: true, mode: 0o700 });
        await rename(temp, blobPath(dir, info.sha256));
        return 'dir';
      }
      let seq = 0;
      for await (const piece of createReadStream(temp, { highWaterMark: CHUNK_BYTES })) {
        await db
          .insertInto('blob_chunks')
          .values({ id: newId(), sha256: info.sha256, seq: seq++, data: piece as Buffer })
          .onConflict((oc) => oc.columns(['sha256', 'seq']).doNothing())
          .execute();
      }
      if (seq === 0) {
        await db
          .insertInto('blob_chunks')
          .values({ id: newId(), sha256: info.sha256, seq: 0, data: Buffer.alloc(0) })
          .onConflict((oc) => oc.columns(['sha256', 'seq']).doNothing())
          .execute();
      }
      return 'db';
    });
    return info;
  } finally {
    await rm(temp, { force: true });
  }
}

/**
 * Marks the blob referenced if it exists; writes it otherwise, its row last, in one
 * transaction. Two writers of the same new content both write the same chunks (the second
 * finds them there) and one row.
 */
async function writeOnce(
  handle: BlobHandle,
  info: BlobInfo,
  write: (db: Kysely<SwarmDatabase>) => Promise<'db' | 'dir'>,
): Promise<void> {
  const body = async (db: Kysely<SwarmDatabase>) => {
    const now = nowTimestamp();
    const touched = await db
      .updateTable('blobs')
      .set({ last_referenced_at: now })
      .where('id', '=', info.sha256)
      .executeTakeFirst();
    if (Number(touched.numUpdatedRows) > 0) return;
    const location = await write(db);
    await db
      .insertInto('blobs')
      .values({ id: info.sha256, size: info.size, location, created_at: now, last_referenced_at: now })
      .onConflict((oc) => oc.column('id').doUpdateSet({ last_referenced_at: now }))
      .execute();
  };
  // SQLite: statement by statement, in the caller's transaction if it is in one (its
  // writeTransaction's connection does not say so, and SQLite cannot nest them). Safe without
  // one of its own: writers are serialised, and the sweep deletes a blob's row and chunks under
  // one write lock, so it never falls between this update and these inserts. Crashing between
  // the chunks and the row leaves chunks that the next writer of the same content reuses.
  if (handle.db.isTransaction || handle.dialect.name === 'sqlite') await body(handle.db);
  else await handle.dialect.writeTransaction(handle.db, body);
}

/** Writes a file under `dir` by its address: a temporary file first, renamed when complete. */
async function writeFileOnce(
  dir: string,
  sha256: string,
  fill: (file: Awaited<ReturnType<typeof open>>) => Promise<void>,
): Promise<void> {
  const final = blobPath(dir, sha256);
  await mkdir(path.dirname(final), { recursive: true, mode: 0o700 });
  const temp = `${final}.${randomBytes(6).toString('hex')}.part`;
  try {
    const file = await open(temp, 'wx', 0o600);
    try {
      await fill(file);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, final);
  } finally {
    await rm(temp, { force: true });
  }
}

/** `<dir>/ab/cd/<sha256>`: two levels, so no folder holds more than 65,536 entries of them. */
export function blobPath(dir: string, sha256: string): string {
  return path.join(dir, sha256.slice(0, 2), sha256.slice(2, 4), sha256);
}

/** The blob's size and where it is, or null when there is no such blob. */
export async function findBlob(
  db: Kysely<SwarmDatabase>,
  sha256: string,
): Promise<{ size: number; location: 'db' | 'dir' } | null> {
  if (!isSha256(sha256)) return null;
  const row = await db
    .selectFrom('blobs')
    .select(['size', 'location'])
    .where('id', '=', sha256)
    .executeTakeFirst();
  return row === undefined ? null : { size: Number(row.size), location: row.location };
}

function missing(sha256: string, why: string): SwarmError {
  return new SwarmError('BLOB_MISSING', `blob sha256:${sha256} cannot be read: ${why}`, {
    context: { sha256 },
  });
}

/**
 * The blob's bytes in order, a chunk at a time, checked against its size and hash as they
 * pass: a reader never gets damaged bytes without an error at the end.
 */
export async function* readBlob(db: Kysely<SwarmDatabase>, sha256: string): AsyncGenerator<Buffer> {
  const found = await findBlob(db, sha256);
  if (found === null) throw missing(sha256, 'no such blob');
  const hash = createHash('sha256');
  let size = 0;
  const pass = (piece: Buffer) => {
    hash.update(piece);
    size += piece.length;
    return piece;
  };
  if (found.location === 'db') {
    for (let seq = 0; ; seq++) {
      const row = await db
        .selectFrom('blob_chunks')
        .select('data')
        .where('sha256', '=', sha256)
        .where('seq', '=', seq)
        .executeTakeFirst();
      if (row === undefined) break;
      yield pass(Buffer.from(row.data));
    }
  } else {
    const dir = blobSettings().dir;
    if (dir === null) throw missing(sha256, 'it is kept in a folder, and SWARM_BLOB_DIR is not set');
    try {
      for await (const piece of createReadStream(blobPath(dir, sha256), { highWaterMark: CHUNK_BYTES }))
        yield pass(piece as Buffer);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw missing(sha256, 'its file is gone');
      throw error;
    }
  }
  if (size !== found.size) throw missing(sha256, `${size} bytes found, ${found.size} stored`);
  if (hash.digest('hex') !== sha256) throw missing(sha256, 'its bytes no longer match their hash');
}

/** The whole blob, checked. */
export async function getBlob(db: Kysely<SwarmDatabase>, sha256: string): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for await (const piece of readBlob(db, sha256)) pieces.push(piece);
  return Buffer.concat(pieces);
}
