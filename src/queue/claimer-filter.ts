import type { SelectQueryBuilder } from 'kysely';
import type { SwarmDatabase } from '../storage/index.js';

/** Who may take a task: a pull agent's owner, and the agent name or capabilities it serves. */
export interface ClaimerFilter {
  readonly ownerId?: string;
  readonly only?: { readonly agentName?: string; readonly capabilities?: readonly string[] };
}

/**
 * Narrows a select over ready tasks to what the claimer may take: tasks of `ownerId`, and those
 * naming `only.agentName` or naming no agent and requiring one of `only.capabilities`. Both the
 * unkeyed claim and the keyed one (src/queue/flow) apply it, so they cannot disagree.
 */
export function whereClaimerMayTake<DB extends SwarmDatabase, O>(
  q: SelectQueryBuilder<DB, 'tasks', O>,
  filter: ClaimerFilter,
): SelectQueryBuilder<DB, 'tasks', O> {
  const narrowed = q as unknown as SelectQueryBuilder<SwarmDatabase, 'tasks', O>;
  return narrowed
    .$if(filter.ownerId !== undefined, (w) => w.where('owner_id', '=', filter.ownerId!))
    .$if(filter.only !== undefined, (w) =>
      w.where((eb) => {
        const { agentName, capabilities = [] } = filter.only!;
        const either = [];
        if (agentName !== undefined) either.push(eb('agent_name', '=', agentName));
        if (capabilities.length > 0)
          either.push(
            eb.and([eb('agent_name', 'is', null), eb('capability_required', 'in', [...capabilities])]),
          );
        return eb.or(either);
      }),
    ) as unknown as SelectQueryBuilder<DB, 'tasks', O>;
}
