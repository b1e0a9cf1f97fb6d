import { useEffect, useRef, useState } from 'react';
import { get } from '../../api.js';
import type { NestedBar } from '../../dag/timeline.js';
import { ENDED, type StepConversation } from './types.js';

/** At most this many agent steps of one run are read for the timeline. */
const MAX_STEPS = 20;

/**
 * The conversations of a run's agent steps: which steps have one comes from the run's messages
 * (`metadata.conversation`) and `always` (dynamic pattern steps, whose child tasks are wanted
 * before anything is said), then each is read (`/runs/{id}/steps/{step}/conversation`). Read
 * again every 2 s while the run goes on, and once more when it ends.
 */
export function useConversations(
  runId: string,
  status: string | undefined,
  always: readonly string[] = [],
): ReadonlyMap<string, StepConversation> {
  const [conversations, setConversations] = useState<ReadonlyMap<string, StepConversation>>(new Map());
  // What was last read, as JSON: a poll that reads the same leaves the state (and the graph) alone.
  const lastRead = useRef('');
  const ended = status !== undefined && ENDED.has(status);
  const alwaysKey = always.join('\n');
  useEffect(() => {
    let live = true;
    const id = encodeURIComponent(runId);
    const load = async () => {
      const { items } = await get<{ items: { metadata: Record<string, unknown> }[] }>(`/runs/${id}/messages`);
      const steps = [
        ...new Set(
          (alwaysKey === '' ? [] : alwaysKey.split('\n')).concat(
            items.flatMap((m) =>
              m.metadata.conversation === true && typeof m.metadata.step === 'string'
                ? [m.metadata.step]
                : [],
            ),
          ),
        ),
      ].slice(0, MAX_STEPS);
      const read = await Promise.all(
        steps.map(
          async (step) =>
            [
              step,
              await get<StepConversation>(`/runs/${id}/steps/${encodeURIComponent(step)}/conversation`),
            ] as const,
        ),
      );
      const json = JSON.stringify(read);
      if (live && json !== lastRead.current) {
        lastRead.current = json;
        setConversations(new Map(read));
      }
    };
    void load().catch(() => undefined);
    if (ended) return () => void (live = false);
    const timer = setInterval(() => void load().catch(() => undefined), 2000);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [runId, ended, status, alwaysKey]);
  return conversations;
}

/** A step's model calls and tool calls as timeline bars. */
export function conversationBars(stepId: string, conversation: StepConversation): NestedBar[] {
  const bars: NestedBar[] = [];
  for (const turn of conversation.turns) {
    if (turn.role !== 'assistant' || turn.startedAt === undefined) continue;
    const end = new Date(Date.parse(turn.startedAt) + (turn.durationMs ?? 0)).toISOString();
    bars.push({
      kind: 'model',
      label: `↳ model call ${turn.modelCall ?? ''}${turn.itemIndex === null ? '' : ` [${turn.itemIndex}]`}`,
      taskId: turn.taskId,
      stepId,
      itemIndex: turn.itemIndex,
      attempt: turn.modelCall ?? 0,
      status: 'completed',
      queuedAt: turn.startedAt,
      startedAt: turn.startedAt,
      completedAt: end,
    });
  }
  for (const call of conversation.toolCalls) {
    bars.push({
      kind: 'tool',
      label: `↳ tool ${call.tool ?? call.agent ?? call.taskId}`,
      taskId: call.taskId,
      stepId,
      itemIndex: null,
      attempt: call.retries + 1,
      status: call.status.toLowerCase(),
      queuedAt: call.createdAt,
      startedAt: call.startedAt,
      completedAt: call.completedAt,
    });
  }
  return bars;
}
