import type { Migration } from './ddl.js';

/**
 * An owner's weight in fair claims (docs/flow-control.md), set by an admin: when several owners
 * have ready work, a claim's shares are in proportion to their weights. NULL weighs 1.
 */
export const ownerClaimWeight: Migration = {
  version: 38,
  name: 'owner-claim-weight',
  async up(db, dialect) {
    await db.schema.alterTable('users').addColumn('claim_weight', dialect.type('integer')).execute();
  },
};
