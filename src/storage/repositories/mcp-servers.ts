import type { Kysely, Selectable } from 'kysely';
import { SwarmError } from '../../errors/index.js';
import type { Caller } from '../caller.js';
import type { DialectAdapter } from '../dialect/dialect.js';
import type { McpServersTable, SwarmDatabase } from '../schema-types.js';
import { byCodeUnits, fromDbJson, newId, nowTimestamp, toDbJson } from '../values.js';
import { recordAudit } from './audit-logs.js';

/**
 * MCP servers (`mcp_servers`), per owner. No credential is ever here: `headers` maps a header
 * name to the name of one of the owner's secrets, `env` lists secret names; src/mcp/ reads the
 * values when it connects.
 */
export type McpTransport = 'stdio' | 'http';

export interface McpServerRecord {
  readonly id: string;
  readonly ownerId: string;
  readonly name: string;
  readonly transport: McpTransport;
  /** stdio: the program; null for http. */
  readonly command: string | null;
  /** stdio: its arguments, an array (never a shell line). */
  readonly args: readonly string[];
  /** http: the streamable-HTTP endpoint; null for stdio. */
  readonly url: string | null;
  /** http: header name → the name of the secret holding its value. */
  readonly headers: Readonly<Record<string, string>>;
  /** stdio: names of the secrets passed as environment variables of the same names. */
  readonly env: readonly string[];
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface NewMcpServer {
  readonly name: string;
  readonly transport: McpTransport;
  readonly command: string | null;
  readonly args: readonly string[];
  readonly url: string | null;
  readonly headers: Readonly<Record<string, string>>;
  readonly env: readonly string[];
}

type Db = Kysely<SwarmDatabase>;

function toServer(row: Selectable<McpServersTable>): McpServerRecord {
  return {
    id: row.id,
    ownerId: row.owner_id,
    name: row.name,
    transport: row.transport,
    command: row.command,
    args: fromDbJson<string[]>(row.args) ?? [],
    url: row.url,
    headers: fromDbJson<Record<string, string>>(row.headers) ?? {},
    env: fromDbJson<string[]>(row.env) ?? [],
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function serversOf(db: Db, caller: Caller) {
  return db.selectFrom('mcp_servers').selectAll().where('owner_id', '=', caller.userId);
}

export async function listMcpServers(db: Db, caller: Caller): Promise<McpServerRecord[]> {
  const rows = await serversOf(db, caller).execute();
  return rows.map(toServer).sort((a, b) => byCodeUnits(a.name, b.name));
}

export async function findMcpServer(db: Db, caller: Caller, name: string): Promise<McpServerRecord | null> {
  const row = await serversOf(db, caller).where('name', '=', name).executeTakeFirst();
  return row === undefined ? null : toServer(row);
}

/**
 * Creates the caller's server `name`, or replaces it (keeping its id). `createOnly`: a server of
 * that name is a CONFLICT instead, and nothing changes.
 */
export async function setMcpServer(
  db: Db,
  dialect: DialectAdapter,
  caller: Caller,
  server: NewMcpServer,
  options: { readonly createOnly?: boolean } = {},
): Promise<{ server: McpServerRecord; created: boolean }> {
  return dialect.writeTransaction(db, async (trx) => {
    const now = nowTimestamp();
    const existing = await findMcpServer(trx, caller, server.name);
    if (existing !== null && options.createOnly === true)
      throw new SwarmError('CONFLICT', `an MCP server named "${server.name}" exists already`, {
        issues: [{ field: 'name', message: 'is taken: remove that server first, or replace it' }],
        context: { what: 'MCP server', id: server.name },
      });
    const values = {
      transport: server.transport,
      command: server.transport === 'stdio' ? server.command : null,
      args: toDbJson(server.transport === 'stdio' ? server.args : []),
      url: server.transport === 'http' ? server.url : null,
      headers: toDbJson(server.transport === 'http' ? server.headers : {}),
      env: toDbJson(server.transport === 'stdio' ? server.env : []),
      updated_at: now,
    };
    if (existing === null) {
      await trx
        .insertInto('mcp_servers')
        .values({ id: newId(), owner_id: caller.userId, name: server.name, created_at: now, ...values })
        .execute();
    } else {
      await trx
        .updateTable('mcp_servers')
        .set(values)
        .where('id', '=', existing.id)
        .where('owner_id', '=', caller.userId)
        .execute();
    }
    const saved = (await findMcpServer(trx, caller, server.name))!;
    await recordAudit(trx, {
      caller,
      action: 'mcp_server.set',
      resourceType: 'mcp_server',
      resourceId: saved.id,
      // Secret names only, as stored: no value ever reaches this table or the audit log.
      metadata: {
        name: saved.name,
        transport: saved.transport,
        command: saved.command,
        url: saved.url,
        headers: Object.keys(saved.headers),
        env: saved.env,
        created: existing === null,
      },
    });
    return { server: saved, created: existing === null };
  });
}

export async function removeMcpServer(
  db: Db,
  dialect: DialectAdapter,
  caller: Caller,
  name: string,
): Promise<McpServerRecord | null> {
  return dialect.writeTransaction(db, async (trx) => {
    const existing = await findMcpServer(trx, caller, name);
    if (existing === null) return null;
    await trx
      .deleteFrom('mcp_servers')
      .where('id', '=', existing.id)
      .where('owner_id', '=', caller.userId)
      .execute();
    await recordAudit(trx, {
      caller,
      action: 'mcp_server.remove',
      resourceType: 'mcp_server',
      resourceId: existing.id,
      metadata: { name: existing.name },
    });
    return existing;
  });
}
