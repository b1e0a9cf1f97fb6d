import type { Kysely, Selectable } from 'kysely';
import type { Caller } from '../caller.js';
import type { DialectAdapter } from '../dialect/dialect.js';
import type { AgentsTable, SwarmDatabase } from '../schema-types.js';
import { fromDbJson, newId, nowTimestamp, toDbJson } from '../values.js';
import { auditedWrite } from './audit-logs.js';

export interface AgentRecord {
  readonly id: string;
  readonly ownerId: string;
  readonly name: string;
  readonly version: string;
  readonly description: string | null;
  readonly type: string;
  readonly status: string;
  readonly capabilities: string[];
  readonly permissions: string[];
  readonly inputSchema: unknown;
  readonly outputSchema: unknown;
  readonly runtimeType: string;
  readonly runtimeConfig: Record<string, unknown>;
  readonly memoryMb: number;
  readonly timeoutSeconds: number;
  /** resources.max_concurrency: most of its tasks RUNNING at once; null: no limit. */
  readonly maxConcurrency: number | null;
  readonly tags: string[];
  readonly author: string | null;
  readonly path: string | null;
  readonly manifest: unknown;
  readonly contentHash: string | null;
  readonly trustScore: number;
  readonly healthScore: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export type NewAgent = Omit<
  AgentRecord,
  'id' | 'ownerId' | 'status' | 'trustScore' | 'healthScore' | 'createdAt' | 'updatedAt'
>;

export interface AgentFilters {
  readonly name?: string;
  readonly capability?: string;
  readonly tag?: string;
  readonly type?: string;
  readonly status?: string;
}

function toAgent(row: Selectable<AgentsTable>): AgentRecord {
  return {
    id: row.id,
    ownerId: row.owner_id,
    name: row.name,
    version: row.version,
    description: row.description,
    type: row.type,
    status: row.status,
    capabilities: fromDbJson<string[]>(row.capabilities) ?? [],
    permissions: fromDbJson<string[]>(row.permissions) ?? [],
    inputSchema: fromDbJson(row.input_schema),
    outputSchema: fromDbJson(row.output_schema),
    runtimeType: row.runtime_type,
    runtimeConfig: fromDbJson<Record<string, unknown>>(row.runtime_config) ?? {},
    memoryMb: row.memory_mb,
    timeoutSeconds: row.timeout_seconds,
    maxConcurrency: row.max_concurrency,
    tags: fromDbJson<string[]>(row.tags) ?? [],
    author: row.author,
    path: row.path,
    manifest: fromDbJson(row.manifest),
    contentHash: row.content_hash,
    trustScore: row.trust_score,
    healthScore: row.health_score,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** Inserts an agent version, audited; null (and no audit row) when the caller already has that name and version. */
export async function insertAgent(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  caller: Caller,
  agent: NewAgent,
): Promise<AgentRecord | null> {
  return auditedWrite(
    db,
    dialect,
    (trx) => insertAgentRow(trx, caller, agent),
    (inserted) =>
      inserted === null
        ? null
        : {
            caller,
            action: 'agent.register',
            resourceType: 'agent',
            resourceId: inserted.name,
            metadata: {
              id: inserted.id,
              version: inserted.version,
              runtime: inserted.runtimeType,
              path: inserted.path,
              contentHash: inserted.contentHash,
            },
          },
  );
}

async function insertAgentRow(
  db: Kysely<SwarmDatabase>,
  caller: Caller,
  agent: NewAgent,
): Promise<AgentRecord | null> {
  const row = await db
    .insertInto('agents')
    .values({
      id: newId(),
      owner_id: caller.userId,
      name: agent.name,
      version: agent.version,
      description: agent.description,
      type: agent.type,
      capabilities: toDbJson(agent.capabilities),
      permissions: toDbJson(agent.permissions),
      input_schema: agent.inputSchema === undefined ? null : toDbJson(agent.inputSchema),
      output_schema: agent.outputSchema === undefined ? null : toDbJson(agent.outputSchema),
      runtime_type: agent.runtimeType,
      runtime_config: toDbJson(agent.runtimeConfig),
      memory_mb: agent.memoryMb,
      timeout_seconds: agent.timeoutSeconds,
      max_concurrency: agent.maxConcurrency,
      tags: toDbJson(agent.tags),
      author: agent.author,
      path: agent.path,
      manifest: toDbJson(agent.manifest),
      content_hash: agent.contentHash,
    })
    .onConflict((oc) => oc.columns(['owner_id', 'name', 'version']).doNothing())
    .returningAll()
    .executeTakeFirst();
  return row === undefined ? null : toAgent(row);
}

export async function findAgent(
  db: Kysely<SwarmDatabase>,
  caller: Caller,
  name: string,
  version: string,
): Promise<AgentRecord | null> {
  const row = await db
    .selectFrom('agents')
    .selectAll()
    .where('owner_id', '=', caller.userId)
    .where('name', '=', name)
    .where('version', '=', version)
    .executeTakeFirst();
  return row === undefined ? null : toAgent(row);
}

/** Every version of every matching agent, oldest first; the registry picks latest versions by semver. */
export async function listAgents(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  caller: Caller,
  filters: AgentFilters = {},
): Promise<AgentRecord[]> {
  let query = db.selectFrom('agents').selectAll().where('owner_id', '=', caller.userId);
  if (filters.name !== undefined) query = query.where('name', '=', filters.name);
  if (filters.type !== undefined) query = query.where('type', '=', filters.type);
  if (filters.status !== undefined) query = query.where('status', '=', filters.status);
  if (filters.capability !== undefined)
    query = query.where(dialect.jsonArrayContains('capabilities', filters.capability));
  if (filters.tag !== undefined) query = query.where(dialect.jsonArrayContains('tags', filters.tag));
  const rows = await query.orderBy('name').orderBy('created_at').orderBy('id').execute();
  return rows.map(toAgent);
}

/** Sets the status of one version, or of every version when `version` is undefined; returns how many rows changed. */
export async function setAgentStatus(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  caller: Caller,
  name: string,
  version: string | undefined,
  status: string,
): Promise<number> {
  return auditedWrite(
    db,
    dialect,
    async (trx) => {
      let query = trx
        .updateTable('agents')
        .set({ status, updated_at: nowTimestamp() })
        .where('owner_id', '=', caller.userId)
        .where('name', '=', name);
      if (version !== undefined) query = query.where('version', '=', version);
      const result = await query.executeTakeFirst();
      return Number(result.numUpdatedRows);
    },
    (changed) =>
      changed === 0
        ? null
        : {
            caller,
            action: 'agent.status',
            resourceType: 'agent',
            resourceId: name,
            metadata: { status, version: version ?? null, versions: changed },
          },
  );
}

/** An agent version as a task names it: its owner, name and version. */
export interface AgentRef {
  readonly ownerId: string;
  readonly name: string;
  readonly version: string;
}

/**
 * Whether `name` is a builtin agent's: served by the runtime, never a row of `agents` (a
 * registered name holds no '/'), so there is nothing to look up for it.
 */
export function isBuiltinAgent(name: string): boolean {
  return name.startsWith('builtin/');
}

/**
 * The registered agents these refs name (those that exist), read in as few statements as the
 * dialect's parameter limit allows: what a batch of tasks needs to know about its agents (the
 * id for their statistics, the limit for their enqueue), looked up once per distinct agent.
 */
export async function agentsNamed(
  db: Kysely<SwarmDatabase>,
  dialect: DialectAdapter,
  refs: readonly AgentRef[],
): Promise<
  { id: string; owner_id: string; name: string; version: string; max_concurrency: number | null }[]
> {
  const distinct = [
    ...new Map(refs.map((ref) => [JSON.stringify([ref.ownerId, ref.name, ref.version]), ref])).values(),
  ];
  const perStatement = Math.max(1, Math.floor(dialect.maxParameters / 3) - 1);
  const found = [];
  for (let i = 0; i < distinct.length; i += perStatement) {
    const chunk = distinct.slice(i, i + perStatement);
    const rows = await db
      .selectFrom('agents')
      .select(['id', 'owner_id', 'name', 'version', 'max_concurrency'])
      .where((eb) =>
        eb.or(
          chunk.map((ref) =>
            eb.and([
              eb('owner_id', '=', ref.ownerId),
              eb('name', '=', ref.name),
              eb('version', '=', ref.version),
            ]),
          ),
        ),
      )
      .execute();
    found.push(...rows);
  }
  return found;
}
