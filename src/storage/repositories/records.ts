import { sql, type Kysely } from 'kysely';
import type { Caller } from '../caller.js';
import type { DialectAdapter } from '../dialect/dialect.js';
import type { SwarmDatabase } from '../schema-types.js';
import { fromDbJson } from '../values.js';

/**
 * What agents report besides their output: artifacts (`execution_artifacts`), messages
 * (`messages`) and usage (`metrics` rows named `usage`, added to the run's totals). The worker
 * writes them for every owner; callers read their own.
 */

/** `execution_artifacts` as this version uses it (the migration's columns, all of them). */
export interface ArtifactsTable {
  id: string;
  owner_id: string;
  run_id: string | null;
  task_id: string | null;
  artifact_type: string | null;
  name: string | null;
  content_type: string | null;
  content: string | null;
  content_blob: Buffer | null;
  storage_path: string | null;
  size_bytes: number | null;
  sha256: string | null;
  created_at: string;
}

export interface MessagesTable {
  id: string;
  owner_id: string;
  run_id: string | null;
  task_id: string | null;
  sender_id: string | null;
  recipient_id: string | null;
  message_type: string;
  content: string;
  metadata: string;
  created_at: string;
}

type Db = Kysely<SwarmDatabase>;
type RecordsDb = Kysely<SwarmDatabase & { execution_artifacts: ArtifactsTable; messages: MessagesTable }>;
const records = (db: Db): RecordsDb =>
  db.withTables<{ execution_artifacts: ArtifactsTable; messages: MessagesTable }>() as unknown as RecordsDb;

/** An artifact row to write: exactly one of content, contentBlob and storagePath is set. */
export interface NewArtifact {
  readonly id: string;
  readonly ownerId: string;
  readonly runId: string | null;
  readonly taskId: string;
  /** How the content is kept: `text` (the `content` column), `binary` (`content_blob`) or `file`. */
  readonly artifactType: 'text' | 'binary' | 'file';
  readonly name: string;
  readonly contentType: string | null;
  readonly content: string | null;
  readonly contentBlob: Buffer | null;
  /** Relative to SWARM_HOME. */
  readonly storagePath: string | null;
  readonly sizeBytes: number;
  readonly sha256: string;
}

export interface NewMessage {
  readonly id: string;
  readonly ownerId: string;
  readonly runId: string | null;
  readonly taskId: string;
  readonly sender: string;
  readonly recipient: string | null;
  readonly messageType: string;
  /** JSON text. */
  readonly content: string;
  /** JSON text. */
  readonly metadata: string;
}

export interface NewUsage {
  readonly id: string;
  readonly ownerId: string;
  readonly runId: string | null;
  readonly taskId: string;
  readonly agent: { readonly name: string; readonly version: string };
  readonly tokens: number;
  readonly inputTokens: number | null;
  readonly outputTokens: number | null;
  readonly cost: number;
  readonly model: string | null;
  readonly provider: string | null;
  /** JSON text. */
  readonly labels: string;
}

export interface ReportBatch {
  readonly artifacts: readonly NewArtifact[];
  readonly messages: readonly NewMessage[];
  readonly usage: readonly NewUsage[];
}

/**
 * Writes one batch in one transaction: artifact and message rows, one `metrics` row per usage
 * report (name `usage`), and each run's tokens and cost added to its totals (increments, so
 * concurrent steps add up).
 */
export async function insertReports(db: Db, dialect: DialectAdapter, batch: ReportBatch): Promise<void> {
  await dialect.writeTransaction(db, async (trx) => {
    const rdb = records(trx);
    if (batch.artifacts.length > 0)
      await rdb
        .insertInto('execution_artifacts')
        .values(
          batch.artifacts.map((a) => ({
            id: a.id,
            owner_id: a.ownerId,
            run_id: a.runId,
            task_id: a.taskId,
            artifact_type: a.artifactType,
            name: a.name,
            content_type: a.contentType,
            content: a.content,
            content_blob: a.contentBlob,
            storage_path: a.storagePath,
            size_bytes: a.sizeBytes,
            sha256: a.sha256,
          })) as never,
        )
        .execute();
    await insertMessages(trx, batch.messages);
    if (batch.usage.length === 0) return;
    const agentIds = new Map<string, string | null>();
    for (const u of batch.usage) {
      const key = `${u.ownerId}\u0000${u.agent.name}\u0000${u.agent.version}`;
      if (agentIds.has(key)) continue;
      const row = await trx
        .selectFrom('agents')
        .select('id')
        .where('owner_id', '=', u.ownerId)
        .where('name', '=', u.agent.name)
        .where('version', '=', u.agent.version)
        .executeTakeFirst();
      agentIds.set(key, row?.id ?? null);
    }
    await trx
      .insertInto('metrics')
      .values(
        batch.usage.map((u) => ({
          id: u.id,
          owner_id: u.ownerId,
          agent_id: agentIds.get(`${u.ownerId}\u0000${u.agent.name}\u0000${u.agent.version}`) ?? null,
          run_id: u.runId,
          task_id: u.taskId,
          name: 'usage',
          token_usage: u.tokens,
          prompt_tokens: u.inputTokens,
          completion_tokens: u.outputTokens,
          estimated_cost: u.cost,
          provider: u.provider,
          model: u.model,
          labels: u.labels,
        })),
      )
      .execute();
    const totals = new Map<string, { ownerId: string; tokens: number; cost: number }>();
    for (const u of batch.usage) {
      if (u.runId === null) continue;
      const total = totals.get(u.runId) ?? { ownerId: u.ownerId, tokens: 0, cost: 0 };
      total.tokens += u.tokens;
      total.cost += u.cost;
      totals.set(u.runId, total);
    }
    for (const [runId, total] of [...totals].sort(([a], [b]) => (a < b ? -1 : 1)))
      await trx
        .updateTable('workflow_runs')
        .set((eb) => ({
          total_api_tokens: eb('total_api_tokens', '+', total.tokens),
          total_cost: eb('total_cost', '+', total.cost),
        }))
        .where('id', '=', runId)
        .where('owner_id', '=', total.ownerId)
        .execute();
  });
}

/** Message rows, inside the caller's transaction (a report batch, an agent loop's checkpoint). */
export async function insertMessages(trx: Db, messages: readonly NewMessage[]): Promise<void> {
  if (messages.length === 0) return;
  await records(trx)
    .insertInto('messages')
    .values(
      messages.map((m) => ({
        id: m.id,
        owner_id: m.ownerId,
        run_id: m.runId,
        task_id: m.taskId,
        sender_id: m.sender,
        recipient_id: m.recipient,
        message_type: m.messageType,
        content: m.content,
        metadata: m.metadata,
      })) as never,
    )
    .execute();
}

/** An artifact as the API shows it (without its content). */
export interface ArtifactRecord {
  readonly id: string;
  readonly runId: string | null;
  readonly taskId: string | null;
  readonly name: string | null;
  readonly contentType: string | null;
  /** `text`, `binary` or `file` (where the content is kept); other values for imported rows. */
  readonly artifactType: string | null;
  readonly sizeBytes: number | null;
  readonly sha256: string | null;
  readonly createdAt: string;
}

/** An artifact with where its content is: the text, the bytes, or a file relative to SWARM_HOME. */
export interface ArtifactWithContent extends ArtifactRecord {
  readonly content: string | null;
  readonly contentBlob: Buffer | null;
  readonly storagePath: string | null;
}

export interface MessageRecord {
  readonly id: string;
  readonly runId: string | null;
  readonly taskId: string | null;
  readonly sender: string | null;
  readonly recipient: string | null;
  readonly messageType: string;
  readonly content: unknown;
  readonly metadata: Record<string, unknown>;
  readonly createdAt: string;
}

const ARTIFACT_COLUMNS = [
  'id',
  'run_id',
  'task_id',
  'name',
  'content_type',
  'artifact_type',
  'size_bytes',
  'sha256',
  'created_at',
] as const;

type ArtifactMeta = Pick<ArtifactsTable, (typeof ARTIFACT_COLUMNS)[number]>;

function toArtifact(row: ArtifactMeta): ArtifactRecord {
  return {
    id: row.id,
    runId: row.run_id,
    taskId: row.task_id,
    name: row.name,
    contentType: row.content_type,
    artifactType: row.artifact_type,
    sizeBytes: row.size_bytes === null ? null : Number(row.size_bytes),
    sha256: row.sha256,
    createdAt: row.created_at,
  };
}

/** Whether the caller owns run `runId`. */
export async function ownsRun(db: Db, caller: Caller, runId: string): Promise<boolean> {
  const row = await db
    .selectFrom('workflow_runs')
    .select('id')
    .where('id', '=', runId)
    .where('owner_id', '=', caller.userId)
    .executeTakeFirst();
  return row !== undefined;
}

/** The caller's run's artifacts, oldest first (metadata only). */
export async function listRunArtifacts(db: Db, caller: Caller, runId: string): Promise<ArtifactRecord[]> {
  const rows = await records(db)
    .selectFrom('execution_artifacts')
    .select(ARTIFACT_COLUMNS)
    .where('run_id', '=', runId)
    .where('owner_id', '=', caller.userId)
    .orderBy('id')
    .execute();
  return rows.map(toArtifact);
}

/** One of the caller's artifacts with its content (or where it is); null when not the caller's. */
export async function findArtifact(db: Db, caller: Caller, id: string): Promise<ArtifactWithContent | null> {
  const row = await records(db)
    .selectFrom('execution_artifacts')
    .select([...ARTIFACT_COLUMNS, 'content', 'content_blob', 'storage_path'])
    .where('id', '=', id)
    .where('owner_id', '=', caller.userId)
    .executeTakeFirst();
  if (row === undefined) return null;
  return {
    ...toArtifact(row),
    content: row.content,
    contentBlob: row.content_blob === null ? null : Buffer.from(row.content_blob),
    storagePath: row.storage_path,
  };
}

/** The caller's run's messages, oldest first. */
export async function listRunMessages(db: Db, caller: Caller, runId: string): Promise<MessageRecord[]> {
  const rows = await records(db)
    .selectFrom('messages')
    .selectAll()
    .where('run_id', '=', runId)
    .where('owner_id', '=', caller.userId)
    .orderBy('id')
    .execute();
  return rows.map(toMessage);
}

/** A tool call's task (a child of a step's task), for the conversation's timeline. */
export interface ToolTaskRecord {
  readonly id: string;
  readonly parentTaskId: string;
  readonly agent: string | null;
  readonly status: string;
  readonly retries: number;
  readonly metadata: Record<string, unknown>;
  readonly error: string | null;
  readonly createdAt: string;
  readonly startedAt: string | null;
  readonly completedAt: string | null;
  readonly durationMs: number | null;
}

export interface StepConversation {
  /** The step's tasks (item index, for a for_each), in creation order. */
  readonly tasks: readonly { readonly id: string; readonly itemIndex: number | null }[];
  /** Their conversation messages (`metadata.conversation`), in the order they were spoken. */
  readonly messages: readonly MessageRecord[];
  readonly toolTasks: readonly ToolTaskRecord[];
  /** More messages than `limit`: the first `limit` are given. */
  readonly truncated: boolean;
}

/**
 * What an agent step said and did: the conversation record of the caller's run's step `stepId`
 * (a retried run's earlier `stepId@n` tasks too) and the tool-call tasks its turns started.
 */
export async function stepConversation(
  db: Db,
  caller: Caller,
  runId: string,
  stepId: string,
  limit: number,
): Promise<StepConversation> {
  // The step's tasks: `stepId`, or a retried run's earlier `stepId@n` (no LIKE: ids may hold `_`).
  const prefix = `${stepId}@`;
  const ofStep = db
    .selectFrom('tasks')
    .where('run_id', '=', runId)
    .where('owner_id', '=', caller.userId)
    .where((eb) =>
      eb.or([eb('step_id', '=', stepId), eb(sql<string>`substr(step_id, 1, ${prefix.length})`, '=', prefix)]),
    );
  const tasks = await ofStep.select(['id', 'item_index']).orderBy('id').execute();
  if (tasks.length === 0) return { tasks: [], messages: [], toolTasks: [], truncated: false };
  const ids = ofStep.select('id');
  const rows = await records(db)
    .selectFrom('messages')
    .selectAll()
    .where('run_id', '=', runId)
    .where('owner_id', '=', caller.userId)
    .where('task_id', 'in', ids)
    .orderBy('id')
    .limit(limit + 1)
    .execute();
  const messages = rows
    .slice(0, limit)
    .map(toMessage)
    .filter((m) => m.metadata.conversation === true);
  const order = new Map(tasks.map((t, i) => [t.id, i]));
  const num = (v: unknown) => (typeof v === 'number' ? v : 0);
  // Within a task, by turn and part: rows of one commit share a timestamp.
  messages.sort(
    (a, b) =>
      (order.get(a.taskId ?? '') ?? 0) - (order.get(b.taskId ?? '') ?? 0) ||
      num(a.metadata.turn) - num(b.metadata.turn) ||
      num(a.metadata.part) - num(b.metadata.part),
  );
  const children = await db
    .selectFrom('tasks')
    .select([
      'id',
      'parent_task_id',
      'agent_name',
      'agent_version',
      'capability_required',
      'status',
      'retry_count',
      'task_metadata',
      'error_message',
      'created_at',
      'started_at',
      'completed_at',
      'duration_ms',
    ])
    .where('owner_id', '=', caller.userId)
    .where('parent_task_id', 'in', ids)
    .orderBy('id')
    .limit(limit)
    .execute();
  return {
    tasks: tasks.map((t) => ({ id: t.id, itemIndex: t.item_index === null ? null : Number(t.item_index) })),
    messages,
    toolTasks: children.map((c) => ({
      id: c.id,
      parentTaskId: c.parent_task_id!,
      agent:
        c.agent_name === null
          ? c.capability_required === null
            ? null
            : `capability:${c.capability_required}`
          : `${c.agent_name}@${c.agent_version ?? ''}`,
      status: c.status,
      retries: Number(c.retry_count),
      metadata: fromDbJson<Record<string, unknown>>(c.task_metadata) ?? {},
      error: c.error_message,
      createdAt: c.created_at,
      startedAt: c.started_at,
      completedAt: c.completed_at,
      durationMs: c.duration_ms === null ? null : Number(c.duration_ms),
    })),
    truncated: rows.length > limit,
  };
}

function toMessage(row: MessagesTable): MessageRecord {
  return {
    id: row.id,
    runId: row.run_id,
    taskId: row.task_id,
    sender: row.sender_id,
    recipient: row.recipient_id,
    messageType: row.message_type,
    content: fromDbJson(row.content),
    metadata: fromDbJson<Record<string, unknown>>(row.metadata) ?? {},
    createdAt: row.created_at,
  };
}
