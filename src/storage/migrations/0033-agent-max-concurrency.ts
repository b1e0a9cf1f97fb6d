import type { Migration } from './ddl.js';

/**
 * An agent's `resources.max_concurrency` (docs/flow-control.md): at most that many of its tasks
 * RUNNING at once, per owner, across all workers. A column, not only the manifest's JSON: the
 * enqueue reads it for every batch naming registered agents.
 */
export const agentMaxConcurrency: Migration = {
  version: 33,
  name: 'agent-max-concurrency',
  async up(db, dialect) {
    await db.schema.alterTable('agents').addColumn('max_concurrency', dialect.type('integer')).execute();
  },
};
