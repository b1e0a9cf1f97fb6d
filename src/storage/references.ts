import type { Kysely } from 'kysely';
import { SwarmError } from '../errors/index.js';
import type { DanglingReference, DialectAdapter } from './dialect/dialect.js';

/** How many rows the error names; the rest are counted by the database only on the next try. */
const NAMED = 10;

const describe = (ref: DanglingReference) =>
  `${ref.table}${ref.id === null ? '' : ` ${ref.id}`}` +
  (ref.column === null
    ? ''
    : ` (${ref.column} = ${ref.value ?? 'null'}: no such ${ref.parent ?? 'parent'} row)`);

/**
 * The error for writes that would leave rows naming a row that does not exist, each named with
 * its column and the missing parent. `doing` starts the message ("copying X to Y"), `fix` ends it.
 */
export function danglingReferenceError(
  found: readonly DanglingReference[],
  doing: string,
  fix: string,
): SwarmError {
  return new SwarmError(
    'DANGLING_REFERENCE',
    `${doing} would leave rows naming a row that does not exist: ${found.map(describe).join(', ')}; ` +
      `it was rolled back, nothing was written. ${fix}`,
    { context: { references: found } },
  );
}

/**
 * Before the commit of a transaction that deferred its foreign keys (`deferForeignKeys`): fails,
 * naming the rows, where the commit would fail with only the driver's "FOREIGN KEY constraint
 * failed".
 */
export async function requireResolvedReferences(
  dialect: DialectAdapter,
  trx: Kysely<unknown>,
  doing: string,
  fix: string,
): Promise<void> {
  const found = await dialect.checkDeferredForeignKeys(trx, NAMED);
  if (found.length > 0) throw danglingReferenceError(found, doing, fix);
}
