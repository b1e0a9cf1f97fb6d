import { createIndex, table, type Migration } from './ddl.js';

/**
 * Signed one-time approval links (issue 17): a link is `/approve/<token>`, the token an HMAC over
 * (approval id, nonce, expiry) under a key derived from the master key, so nothing secret is
 * stored here. This row is what makes a link one-time: it is marked `used_at` in the same
 * transaction that decides the approval, by a conditional update, so a link replayed (or two
 * clicks racing) decides nothing the second time.
 *
 * - `id` is the link's nonce; `waitpoint_id` the approval it decides (deleted with it);
 * - `created_by`: the user who asked for the link, or `step:<task id>` for one an approval step
 *   emailed itself (its `notify`);
 * - `expires_at` repeats the signed expiry, for listing and pruning.
 */
export const approvalLinks: Migration = {
  version: 23,
  name: 'approval-links',
  async up(db, dialect) {
    await table(db, dialect, 'approval_links')
      .id()
      .owner()
      .text('waitpoint_id', { notNull: true, references: { table: 'waitpoints', onDelete: 'cascade' } })
      .text('created_by', { notNull: true })
      .timestamp('expires_at', { notNull: true })
      .timestamp('used_at')
      .createdAt()
      .create();
    await createIndex(db, dialect, 'idx_approval_links_waitpoint', 'approval_links', ['waitpoint_id']);
  },
};
