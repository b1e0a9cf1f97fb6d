import { createIndex, oneOf, table, type Migration } from './ddl.js';

/** What a waitpoint waits for: a person's decision, an event, or a moment. */
export const WAITPOINT_KINDS = ['approval', 'event', 'sleep'] as const;
/** waiting until it is resolved (decided, matched), timed out, or cancelled with its run. */
export const WAITPOINT_STATUSES = ['waiting', 'resolved', 'timed_out', 'cancelled'] as const;
/** What a waitpoint that times out does to its step (approvals: approve or reject it). */
export const WAITPOINT_TIMEOUT_ACTIONS = ['fail', 'approve', 'reject', 'continue'] as const;

/**
 * Waitpoints (issue 17): ONE durable mechanism for every wait. A waiting step's task is back on
 * the queue (PENDING, no lease, no worker slot) with `run_at` at the waitpoint's timeout (or
 * never), and this row says what it waits for. The row is written in the same transaction that
 * puts the task to sleep (src/queue/sleep.ts), so nothing can resolve a waitpoint whose task is
 * still running. Resolving it is one conditional update (`status = 'waiting'`) that also makes
 * the task claimable at once: however many processes race, one wins.
 *
 * - `key`: the waitpoint's name within its task (`approval`, `wait_for`…); (task_id, key) is
 *   unique, so an attempt that runs again after a crash finds its waitpoint instead of making a
 *   second one;
 * - `spec`: what is awaited (an approval's message, data, approvers and form; an event's match);
 * - `event_type` / `event_source`: for `event` waitpoints, what the event dispatcher looks up by
 *   (a partial index over the waiting ones), so an event costs one indexed read and a waiting
 *   run costs nothing while no event comes; `events_since` is where the lookback starts and
 *   `matched_through` the last event already checked against it;
 * - `result`, `resolved_by` (a user id, `event:<id>`, `timeout`, `system`), `resolved_at`.
 */
export const waitpoints: Migration = {
  version: 22,
  name: 'waitpoints',
  async up(db, dialect) {
    await table(db, dialect, 'waitpoints')
      .id()
      .owner()
      .text('run_id', { references: { table: 'workflow_runs', onDelete: 'cascade' } })
      .text('task_id', { notNull: true, references: { table: 'tasks', onDelete: 'cascade' } })
      .text('step_id')
      .text('key', { notNull: true })
      .text('kind', { notNull: true, check: oneOf('kind', WAITPOINT_KINDS) })
      .text('status', { notNull: true, default: 'waiting', check: oneOf('status', WAITPOINT_STATUSES) })
      .json('spec', { notNull: true, default: { json: {} } })
      .text('event_type')
      .text('event_source')
      .timestamp('events_since')
      .text('matched_through')
      .timestamp('timeout_at')
      .text('on_timeout', {
        notNull: true,
        default: 'fail',
        check: oneOf('on_timeout', WAITPOINT_TIMEOUT_ACTIONS),
      })
      .json('result')
      .text('resolved_by')
      .timestamp('resolved_at')
      .timestamps()
      .unique('task_key', ['task_id', 'key'])
      .create();
    // The approvals inbox and `swarm approvals list`: an owner's waiting approvals, newest first.
    await createIndex(db, dialect, 'idx_waitpoints_owner_status', 'waitpoints', [
      'owner_id',
      'status',
      'created_at desc',
    ]);
    await createIndex(db, dialect, 'idx_waitpoints_run', 'waitpoints', ['run_id']);
    // The event dispatcher: the waiting event waitpoints for one event type.
    await createIndex(db, dialect, 'idx_waitpoints_waiting_event', 'waitpoints', ['event_type', 'owner_id'], {
      where: "status = 'waiting' AND kind = 'event'",
    });
  },
};
