import type { Engine } from '../engine/index.js';
import type { CompletionHooks, FailureHooks, LeaseHooks } from '../queue/index.js';
import { withAgentOutcomes } from '../routing/index.js';
import type { Store } from '../storage/index.js';
import { withTaskHooks } from '../tasks/index.js';

/**
 * The hooks every recorded outcome goes through, whoever reports it (the in-process worker, or
 * a pull agent over the API). All in the outcome's transaction: the engine moves runs on,
 * agents' trust and statistics move, and standalone tasks release their dependents and advance
 * their chains.
 */
export function outcomeHooks(store: Store, engine: Engine): CompletionHooks & FailureHooks & LeaseHooks {
  return {
    ...withTaskHooks(
      {
        prepareCompletedBatch: engine.prepareCompletions,
        onCompletedBatch: withAgentOutcomes(store.dialect, engine.onTasksCompleted),
        onFailed: engine.onTaskFailed,
      },
      store.dialect,
    ),
    // A lost lease is retried as the same attempt: the run's log records it.
    onLeaseLost: engine.onLeasesLost,
  };
}
