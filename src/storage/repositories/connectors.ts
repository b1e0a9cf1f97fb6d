import type { Kysely } from 'kysely';
import type { Caller } from '../caller.js';
import type { SwarmDatabase } from '../schema-types.js';
import { newId, toDbJson } from '../values.js';

export interface NewConnector {
  readonly name: string;
  /** `http`, `smtp`, `google_sheets`… (seed 004). */
  readonly type: string;
  /** Settings only: credentials belong in secrets (`secretsRef` names one). */
  readonly config: Record<string, unknown>;
  readonly secretsRef?: string;
}

/** A connector row of the caller's (seed 004's demo data has one). Returns its id. */
export async function insertConnector(
  db: Kysely<SwarmDatabase>,
  caller: Caller,
  connector: NewConnector,
): Promise<string> {
  const id = newId();
  await db
    .insertInto('connectors')
    .values({
      id,
      owner_id: caller.userId,
      name: connector.name,
      type: connector.type,
      config: toDbJson(connector.config, 'config'),
      secrets_ref: connector.secretsRef ?? null,
    })
    .execute();
  return id;
}
