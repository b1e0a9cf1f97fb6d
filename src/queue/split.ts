/** An item that could not be written even on its own, with the error it got. */
export interface FailedItem<T> {
  readonly item: T;
  readonly error: unknown;
}

/**
 * Writes `items` with `attempt` as one batch; when that throws, writes each half on its own,
 * and so on down to single items. One bad item then fails alone and every other item is
 * written in a batch that succeeds: one bad item among n costs about 2·log2(n) more attempts,
 * not n. `attempt` must leave nothing behind when it throws (one transaction per call).
 *
 * Returns what each successful attempt returned, in item order, and the items that failed even
 * alone. Throws only an error `options.rethrow` picks (the database gone, a deadlock: nothing
 * to do with the items, so splitting would only fail them all); halves written before it stay
 * written. Iterative, so a large batch needs no deep stack.
 */
export async function bisectFailures<T, R>(
  items: readonly T[],
  attempt: (batch: T[]) => Promise<R>,
  options: { readonly rethrow?: (error: unknown) => boolean } = {},
): Promise<{ results: R[]; failed: FailedItem<T>[] }> {
  const results: R[] = [];
  const failed: FailedItem<T>[] = [];
  // Last in, first out: the first half is pushed last so the batches are written in order.
  const pending: T[][] = items.length === 0 ? [] : [items.slice()];
  while (pending.length > 0) {
    const batch = pending.pop()!;
    try {
      results.push(await attempt(batch));
    } catch (error) {
      if (options.rethrow?.(error)) throw error;
      if (batch.length === 1) {
        failed.push({ item: batch[0]!, error });
        continue;
      }
      const middle = Math.ceil(batch.length / 2);
      pending.push(batch.slice(middle), batch.slice(0, middle));
    }
  }
  return { results, failed };
}

/** An error's message, for a task's error column or a log line (jsonata throws plain objects). */
export function messageOf(error: unknown): string {
  const message = (error as { message?: unknown } | null | undefined)?.message;
  return typeof message === 'string' ? message : String(error);
}
