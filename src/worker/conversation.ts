import type { ClaimedTask } from '../queue/index.js';
import type { ConversationEntry } from '../runtimes/index.js';
import type { Redactor } from '../secrets/index.js';
import { newId, toDbJson, toDbText, type NewMessage } from '../storage/index.js';

/**
 * An attempt's conversation entries (RuntimeContext.checkpoint) as `messages` rows: the task's
 * owner, run and step, each redacted with the attempt's secrets like everything it reports.
 * The ids are made in order, so the rows of one checkpoint sort as they were spoken.
 */
export function conversationRows(
  task: ClaimedTask,
  entries: readonly ConversationEntry[],
  redactor: Redactor,
): NewMessage[] {
  return entries.map((entry) => ({
    id: newId(),
    ownerId: task.ownerId,
    runId: task.runId,
    taskId: task.id,
    sender: toDbText(redactor.redactText(entry.sender)),
    recipient: entry.recipient === null ? null : toDbText(redactor.redactText(entry.recipient)),
    messageType: entry.type,
    content: toDbJson(redactor.redact(entry.content ?? null)),
    metadata: toDbJson({
      ...(redactor.redact(entry.metadata) as Record<string, unknown>),
      attempt: task.attempt,
      ...(task.stepId === null ? {} : { step: task.stepId }),
      ...(task.itemIndex === null || task.itemIndex === undefined ? {} : { item_index: task.itemIndex }),
    }),
  }));
}
