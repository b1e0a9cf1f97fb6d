/**
 * Tasks' inputs and outputs over SWARM_PAYLOAD_INLINE_MAX go to the blob store
 * (docs/payloads.md), written before the transaction that records the row: a 50 MB output does
 * not hold the write lock of a batch of completions while it is copied.
 */
import { blobSettings, inlineJson, storeJson } from '../blobs/index.js';
import { isTransientDatabaseError, toDbJson, type DatabaseHandle } from '../storage/index.js';

/**
 * The `result_data` text of each completion whose output could be prepared: large ones stored
 * as blobs referenced by their task. One that cannot (too deep) is left out, and fails on its
 * own when the batch is recorded; only a transient database error is thrown.
 */
export async function storeOutputs(
  handle: DatabaseHandle,
  completions: readonly { id: string; output: unknown }[],
): Promise<Map<string, string>> {
  const stored = new Map<string, string>();
  const large: { id: string; output: unknown }[] = [];
  const max = blobSettings().inlineMax;
  for (const c of completions) {
    try {
      // Serialised once: most outputs are small and stay inline as this text.
      const text = toDbJson(c.output ?? null);
      if (text.length * 3 > max && Buffer.byteLength(text, 'utf8') > max) large.push(c);
      else stored.set(c.id, inlineJson(c.output ?? null, text));
    } catch {
      // Refused again, with its error, where the batch is recorded.
    }
  }
  if (large.length === 0) return stored;
  const owners = await handle.db
    .selectFrom('tasks')
    .select(['id', 'owner_id'])
    .where(
      'id',
      'in',
      large.map((c) => c.id),
    )
    .execute();
  const ownerOf = new Map(owners.map((row) => [row.id, row.owner_id]));
  for (const c of large) {
    const ownerId = ownerOf.get(c.id);
    if (ownerId === undefined) continue; // no such task: the batch rejects it
    try {
      stored.set(
        c.id,
        await storeJson(handle, c.output, { ownerId, source: 'tasks', sourceId: c.id }, 'output'),
      );
    } catch (error) {
      if (isTransientDatabaseError(error)) throw error;
    }
  }
  return stored;
}
