import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  blobPath,
  configureBlobs,
  getBlob,
  isBlobReference,
  loadJson,
  putBlob,
  storeJson,
  sweepBlobs,
  insertEvents,
  keepReference,
} from '../../src/blobs/index.js';
import { enqueueTasks } from '../../src/queue/index.js';
import { Store } from '../../src/storage/index.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

const KIB = 1024;
const HOUR = 3_600_000;

describe.each(DIALECTS)('blob store on %s', (dialect) => {
  let testDb: TestDatabase;
  let store: Store;
  let ownerId: string;

  beforeEach(async () => {
    configureBlobs({ inlineMax: 64 * KIB });
    testDb = await createTestDatabase(dialect);
    store = await Store.open(testDb.url);
    ownerId = (await store.system.insertUserIfAbsent({ name: 'U', email: 'u@example.com', role: 'admin' }))!
      .id;
  });
  afterEach(async () => {
    configureBlobs({});
    await store.close();
    await testDb.drop();
  });

  const count = async (table: 'blobs' | 'blob_chunks' | 'blob_refs') =>
    Number(
      (
        await store.handle.db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  it('stores the same content once, in ~1 MiB chunks, and reads it back checked', async () => {
    const bytes = Buffer.alloc(2.5 * 1024 * KIB, 'swarm');
    const first = await putBlob(store.handle, bytes);
    const second = await putBlob(store.handle, Buffer.from(bytes));
    expect(second).toEqual(first);
    expect(first.size).toBe(bytes.length);
    expect(await count('blobs')).toBe(1);
    expect(await count('blob_chunks')).toBe(3);
    expect((await getBlob(store.handle.db, first.sha256)).equals(bytes)).toBe(true);
    const empty = await putBlob(store.handle, '');
    expect((await getBlob(store.handle.db, empty.sha256)).length).toBe(0);
  });

  it('keeps small values inline, large ones as a reference, and never takes a value for a reference', async () => {
    const where = { ownerId, source: 'tasks' as const, sourceId: 'task-1' };
    const small = { a: 1 };
    expect(await storeJson(store.handle, small, where)).toBe('{"a":1}');
    const large = { text: 'y'.repeat(100 * KIB) };
    const stored = await storeJson(store.handle, large, where);
    const ref: unknown = JSON.parse(stored);
    expect(isBlobReference(ref)).toBe(true);
    expect(stored.length).toBeLessThan(200);
    expect(await loadJson(store.handle.db, stored)).toEqual(large);
    // A user's value shaped like a reference (even to a real blob) is stored escaped: read back as given.
    for (const lookalike of [ref, { $blob: 'sha256:nothing', size: 1 }, { '$blob:literal': 3 }]) {
      const text = await storeJson(store.handle, lookalike, where);
      expect(await loadJson(store.handle.db, text)).toEqual(lookalike);
    }
    // Too deep is refused with the field named, as inline values are.
    let deep: unknown = 1;
    for (let i = 0; i < 1100; i++) deep = [deep];
    await expect(storeJson(store.handle, deep, where, 'output')).rejects.toThrow(/^output: /);
  });

  it('stores a task input and an event payload over the threshold as blobs, read back whole', async () => {
    const input = { doc: 'z'.repeat(200 * KIB), n: 1 };
    const [taskId] = await enqueueTasks(store.handle.db, store.handle.dialect, [
      { ownerId, taskType: 'test', input },
      { ownerId, taskType: 'test', input: { small: true } },
    ]);
    const rows = await store.handle.db.selectFrom('tasks').select(['id', 'input_data']).execute();
    const big = rows.find((r) => r.id === taskId)!;
    expect(isBlobReference(JSON.parse(big.input_data))).toBe(true);
    expect(await loadJson(store.handle.db, big.input_data)).toEqual(input);
    expect(rows.find((r) => r.id !== taskId)!.input_data).toMatch(/"small"/);

    const payload = { items: Array.from({ length: 5000 }, (_, i) => ({ i, s: 'payload' })) };
    const [eventId] = await insertEvents(store.handle.db, store.handle.dialect, [
      { ownerId, source: 'test', type: 'big', payload },
    ]);
    const event = await store.handle.db
      .selectFrom('events')
      .select('payload')
      .where('id', '=', eventId!)
      .executeTakeFirstOrThrow();
    expect(isBlobReference(JSON.parse(event.payload))).toBe(true);
    expect(await loadJson(store.handle.db, event.payload)).toEqual(payload);
    const refs = await store.handle.db.selectFrom('blob_refs').selectAll().orderBy('source').execute();
    expect(refs.map((r) => [r.source, r.source_id, r.owner_id])).toEqual([
      ['events', eventId, ownerId],
      ['tasks', taskId, ownerId],
    ]);
  });

  it('sweeps blobs nothing references once the grace period is over, and keeps the rest', async () => {
    configureBlobs({ inlineMax: 64 * KIB, graceMs: HOUR });
    const kept = { keep: 'k'.repeat(100 * KIB) };
    const [taskId] = await enqueueTasks(store.handle.db, store.handle.dialect, [
      { ownerId, taskType: 'test', input: kept },
      { ownerId, taskType: 'test', input: { gone: 'g'.repeat(100 * KIB) } },
    ]);
    const orphan = await putBlob(store.handle, 'o'.repeat(10 * KIB));
    // The second task is pruned: its reference, then its blob, go; the orphan never had one.
    await store.handle.db.deleteFrom('tasks').where('id', '!=', taskId!).execute();
    expect(await count('blobs')).toBe(3);

    // Within the grace period nothing goes: a writer may be about to reference them.
    expect(await sweepBlobs(store.handle, new Date())).toEqual({ references: 0, blobs: 0, bytes: 0 });
    const later = new Date(Date.now() + 2 * HOUR);
    const report = await sweepBlobs(store.handle, later);
    expect(report.references).toBe(1);
    expect(report.blobs).toBe(2);
    expect(await count('blobs')).toBe(1);
    expect(await count('blob_refs')).toBe(1);
    await expect(getBlob(store.handle.db, orphan.sha256)).rejects.toMatchObject({ code: 'BLOB_MISSING' });
    const row = await store.handle.db
      .selectFrom('tasks')
      .select('input_data')
      .where('id', '=', taskId!)
      .executeTakeFirstOrThrow();
    expect(await loadJson(store.handle.db, row.input_data)).toEqual(kept);

    // Stored again after it was swept (or referenced again, moving last_referenced_at): kept.
    await putBlob(store.handle, 'o'.repeat(10 * KIB));
    expect((await sweepBlobs(store.handle, new Date(Date.now() + HOUR / 2))).blobs).toBe(0);
    expect(await count('blobs')).toBe(2);
  });

  it('keeps blobs in SWARM_BLOB_DIR when it is set: written whole, checked on reading', async () => {
    const dir = path.join(testDb.dir, 'blobs');
    configureBlobs({ inlineMax: 64 * KIB, dir, graceMs: HOUR });
    const value = { text: 'f'.repeat(300 * KIB) };
    const text = await storeJson(store.handle, value, { ownerId, source: 'tasks', sourceId: 'x' });
    const sha = (JSON.parse(text) as { $blob: string }).$blob.slice('sha256:'.length);
    const file = blobPath(dir, sha);
    expect(fs.statSync(file).size).toBe(Buffer.byteLength(JSON.stringify(value)));
    expect(await count('blob_chunks')).toBe(0);
    expect(fs.readdirSync(path.dirname(file))).toEqual([sha]); // no temporary file left
    expect(await loadJson(store.handle.db, text)).toEqual(value);
    // Changed by hand: reading it fails instead of returning other bytes.
    fs.writeFileSync(file, JSON.stringify({ text: 'F'.repeat(300 * KIB) }));
    await expect(loadJson(store.handle.db, text)).rejects.toMatchObject({ code: 'BLOB_MISSING' });
    // Swept: the file goes with its row (its reference's row "x" never existed).
    const report = await sweepBlobs(store.handle, new Date(Date.now() + 2 * HOUR));
    expect(report.blobs).toBe(1);
    expect(fs.existsSync(file)).toBe(false);
  });

  it('keeps a reference without the content only while its blob is there', async () => {
    const run = { ownerId, source: 'workflow_runs' as const, sourceId: 'run-1' };
    const ref = JSON.parse(await storeJson(store.handle, { text: 'z'.repeat(100 * KIB) }, run));
    const fork = { ...run, sourceId: 'run-2' };
    const before = await store.handle.db
      .selectFrom('blobs')
      .select('last_referenced_at')
      .executeTakeFirstOrThrow();
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await keepReference(store.handle, ref, fork)).toBe(true);
    const after = await store.handle.db
      .selectFrom('blobs')
      .select('last_referenced_at')
      .executeTakeFirstOrThrow();
    expect(new Date(after.last_referenced_at as string | Date).getTime()).toBeGreaterThan(
      new Date(before.last_referenced_at as string | Date).getTime(),
    );
    const sources = await store.handle.db
      .selectFrom('blob_refs')
      .select('source_id')
      .orderBy('source_id')
      .execute();
    expect(sources.map((r) => r.source_id)).toEqual(['run-1', 'run-2']);
    // Gone (swept, or removed by hand): nothing is recorded, and the caller stores the value again.
    await store.handle.db.deleteFrom('blob_chunks').execute();
    await store.handle.db.deleteFrom('blobs').execute();
    expect(await keepReference(store.handle, ref, { ...run, sourceId: 'run-3' })).toBe(false);
    expect(await count('blob_refs')).toBe(2);
  });
});
