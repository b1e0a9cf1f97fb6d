import { sweepBlobs } from '../blobs/index.js';
import { hostname } from 'node:os';
import type { RetentionPolicy } from '../config/index.js';
import type { Engine } from '../engine/index.js';
import { newId, type Store } from '../storage/index.js';
import { archiveFinishedRuns } from './archive.js';
import { claimLease, recordLeaseResult } from './lease.js';
import { pruneRecords } from './retention.js';

/** After the first pass, the archiver looks at runs that ended this recently. */
const RECENT_MS = 60 * 60_000;

/** The lease row of the retention pruner in `maintenance_leases`. */
export const RETENTION_JOB = 'retention';

export interface HistoryServiceOptions {
  readonly store: Store;
  readonly engine: Engine;
  readonly retention: RetentionPolicy;
  readonly onError: (error: unknown, what: 'archiving' | 'pruning') => void;
  /** How often finished runs are looked for to archive. @default 5 s */
  readonly archiveEveryMs?: number;
  /** One pruning pass per this interval, across all processes. @default 1 h */
  readonly pruneIntervalMs?: number;
  /** How often this process asks for the pruning lease. @default 1 min */
  readonly pruneCheckMs?: number;
}

/**
 * Archives finished runs in the background (every process: a run archived twice is one row)
 * and prunes records by the retention policy (one process per interval: the lease). Returns
 * a stop function that waits for a pass under way.
 */
export function startHistoryService(options: HistoryServiceOptions): () => Promise<void> {
  const { store, engine, retention } = options;
  const holder = `${hostname()}:${process.pid}:${newId()}`;
  const pruneIntervalMs = options.pruneIntervalMs ?? 60 * 60_000;
  let stopped = false;
  let archiving: Promise<void> | null = null;
  let pruning: Promise<void> | null = null;

  // The first pass looks at every finished run; once caught up, a pass looks only at runs that
  // ended in the last hour (an index range, not a scan of every run ever kept). A run this misses
  // (a clock an hour off) is archived by the pruner's full pass before anything of it is deleted.
  let endedSince: string | undefined;
  const archive = () => {
    archiving ??= (async () => {
      const since = endedSince;
      const started = Date.now();
      while ((await archiveFinishedRuns(store, engine, 100, since)) === 100 && !stopped);
      if (!stopped) endedSince = new Date(started - RECENT_MS).toISOString();
    })()
      .catch((error: unknown) => options.onError(error, 'archiving'))
      .finally(() => {
        archiving = null;
      });
  };
  const prune = () => {
    pruning ??= (async () => {
      if (!(await claimLease(store.handle.db, RETENTION_JOB, holder, pruneIntervalMs))) return;
      const report = await pruneRecords(store, engine, retention, { stop: () => stopped });
      // After the rows are gone: blobs only they referenced go with them (docs/payloads.md).
      const swept = stopped ? null : await sweepBlobs(store.handle);
      await recordLeaseResult(store.handle.db, RETENTION_JOB, {
        holder,
        at: new Date().toISOString(),
        ...report,
        ...(swept === null ? {} : { blobs: swept.blobs, blob_bytes: swept.bytes }),
      });
    })()
      .catch((error: unknown) => options.onError(error, 'pruning'))
      .finally(() => {
        pruning = null;
      });
  };

  const archiveTimer = setInterval(archive, options.archiveEveryMs ?? 5_000);
  const firstPrune = setTimeout(prune, 10_000);
  const pruneTimer = setInterval(prune, options.pruneCheckMs ?? 60_000);
  for (const timer of [archiveTimer, firstPrune, pruneTimer]) timer.unref();
  return async () => {
    stopped = true;
    clearInterval(archiveTimer);
    clearTimeout(firstPrune);
    clearInterval(pruneTimer);
    await Promise.all([archiving, pruning]);
  };
}
