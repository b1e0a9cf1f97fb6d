import { formatDuration } from '../../dag/timeline.js';
import type { ConversationTurn, StepConversation, ToolCallTask } from './types.js';

const json = (value: unknown) => JSON.stringify(value, null, 2);
const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const textOf = (content: unknown) =>
  isRecord(content) && typeof content.text === 'string' ? content.text : '';

interface AskedCall {
  readonly id: string;
  readonly name: string;
  readonly arguments: unknown;
}

function askedCalls(content: unknown): AskedCall[] {
  if (!isRecord(content) || !Array.isArray(content.tool_calls)) return [];
  return content.tool_calls.filter(isRecord).map((c) => ({
    id: String(c.id ?? ''),
    name: String(c.name ?? ''),
    arguments: c.arguments,
  }));
}

function usageLine(turn: ConversationTurn): string {
  const parts = [
    turn.modelCall === undefined ? null : `call ${turn.modelCall}`,
    turn.model ?? null,
    turn.tokens === undefined ? null : `${turn.inputTokens ?? 0} in + ${turn.outputTokens ?? 0} out tokens`,
    turn.cost === undefined || turn.cost === 0 ? null : `$${turn.cost.toFixed(4)}`,
    turn.durationMs === undefined ? null : formatDuration(turn.durationMs),
  ];
  return parts.filter((p): p is string => p !== null).join(' · ');
}

function Turn({ turn, tasks }: { turn: ConversationTurn; tasks: ReadonlyMap<string, ToolCallTask> }) {
  if (turn.role === 'tool') {
    const c = isRecord(turn.content) ? turn.content : {};
    const task = turn.toolTaskId === undefined ? undefined : tasks.get(turn.toolTaskId);
    return (
      <li className={`chat-turn chat-tool${c.is_error === true ? ' chat-error' : ''}`} data-role="tool">
        <details>
          <summary>
            <b>{String(c.name ?? 'tool')}</b> {c.is_error === true ? 'failed' : 'answered'}
            {task !== undefined && (
              <span className="muted">
                {' '}
                · {task.agent ?? ''}
                {task.retries > 0 ? ` · ${task.retries} retries` : ''}
              </span>
            )}
          </summary>
          <pre>{typeof c.content === 'string' ? c.content : json(c.content)}</pre>
        </details>
      </li>
    );
  }
  const calls = askedCalls(turn.content);
  const text = textOf(turn.content);
  // A message between agents (a pattern's plan, result, turn or hand-off): who to whom, and what
  // it said beyond its text.
  const between = turn.role === 'assistant' && turn.modelCall === undefined;
  const rest = isRecord(turn.content)
    ? Object.fromEntries(Object.entries(turn.content).filter(([k]) => k !== 'text'))
    : turn.content;
  return (
    <li className={`chat-turn chat-${turn.role}`} data-role={turn.role} data-type={turn.type}>
      <div className="chat-who">
        {turn.role === 'assistant' ? turn.sender : turn.role}
        {between && typeof turn.recipient === 'string' && (
          <span className="muted">
            {turn.type === 'request' ? ' hands off to ' : ' → '}
            {turn.recipient}
          </span>
        )}
        {between && turn.type === 'broadcast' && <span className="muted"> → all</span>}
        {turn.itemIndex !== null && <span className="muted"> [{turn.itemIndex}]</span>}
      </div>
      {text !== '' && <div className="chat-text">{text}</div>}
      {between && calls.length === 0 && !(isRecord(rest) && Object.keys(rest).length === 0) && (
        <pre className="chat-content">{json(rest)}</pre>
      )}
      {calls.map((call) => (
        <details key={call.id} className="chat-call" data-testid="tool-call">
          <summary>
            calls <b>{call.name}</b>
          </summary>
          <pre>{json(call.arguments)}</pre>
        </details>
      ))}
      {turn.role === 'assistant' && !between && <div className="chat-usage muted">{usageLine(turn)}</div>}
    </li>
  );
}

/** An agent step's conversation as a chat: each turn, tool calls and results expandable. */
export function Conversation({ conversation }: { conversation: StepConversation }) {
  const tasks = new Map(conversation.toolCalls.map((t) => [t.taskId, t]));
  const { totals } = conversation;
  return (
    <section data-testid="conversation">
      <h3>Conversation</h3>
      <p className="muted">
        {totals.modelCalls} model calls · {totals.toolCalls} tool calls · {totals.tokens} tokens
        {totals.cost > 0 ? ` · $${totals.cost.toFixed(4)}` : ''}
        {conversation.truncated ? ' · only the first turns are shown' : ''}
      </p>
      <ol className="chat" aria-label="Conversation">
        {conversation.turns.map((turn) => (
          <Turn key={turn.id} turn={turn} tasks={tasks} />
        ))}
      </ol>
    </section>
  );
}
