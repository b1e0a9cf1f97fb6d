import type { Kysely } from 'kysely';
import type { LoginAttemptsTable, SwarmDatabase } from '../schema-types.js';
import { newId, toDbText } from '../values.js';

export interface LoginSubject {
  readonly kind: LoginAttemptsTable['kind'];
  /** A lower-cased email, or a source address. */
  readonly subject: string;
}

export interface LoginAttemptState extends LoginSubject {
  readonly failures: number;
  readonly lastFailureAt: string;
  readonly lockedUntil: string | null;
}

/** The counts for these subjects (those without failures have no row). */
export async function readLoginAttempts(
  db: Kysely<SwarmDatabase>,
  subjects: readonly LoginSubject[],
): Promise<LoginAttemptState[]> {
  if (subjects.length === 0) return [];
  const rows = await db
    .selectFrom('login_attempts')
    .select(['kind', 'subject', 'failures', 'last_failure_at', 'locked_until'])
    .where((eb) =>
      eb.or(subjects.map((s) => eb.and([eb('kind', '=', s.kind), eb('subject', '=', toDbText(s.subject))]))),
    )
    .execute();
  return rows.map((r) => ({
    kind: r.kind,
    subject: r.subject,
    failures: r.failures,
    lastFailureAt: r.last_failure_at,
    lockedUntil: r.locked_until,
  }));
}

/**
 * Counts one failure: an upsert adding 1 (or starting again at 1 when the last failure is older
 * than `forgetBefore`), so processes sharing the database add up. Returns the new count.
 */
export async function addLoginFailure(
  db: Kysely<SwarmDatabase>,
  subject: LoginSubject,
  at: string,
  forgetBefore: string,
): Promise<number> {
  const row = await db
    .insertInto('login_attempts')
    .values({
      id: newId(),
      kind: subject.kind,
      subject: toDbText(subject.subject),
      failures: 1,
      last_failure_at: at,
    })
    .onConflict((oc) =>
      oc.columns(['kind', 'subject']).doUpdateSet((eb) => ({
        failures: eb
          .case()
          .when('login_attempts.last_failure_at', '<', forgetBefore)
          .then(1)
          .else(eb('login_attempts.failures', '+', 1))
          .end(),
        last_failure_at: eb.ref('excluded.last_failure_at'),
      })),
    )
    .returning('failures')
    .executeTakeFirstOrThrow();
  return row.failures;
}

/** Locks a subject until `until` (a later lock is never shortened by a racing earlier one). */
export async function lockLoginSubject(
  db: Kysely<SwarmDatabase>,
  subject: LoginSubject,
  until: string,
): Promise<void> {
  await db
    .updateTable('login_attempts')
    .set({ locked_until: until })
    .where('kind', '=', subject.kind)
    .where('subject', '=', toDbText(subject.subject))
    .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', until)]))
    .execute();
}

/** A successful sign-in forgets the account's failures. */
export async function clearLoginFailures(db: Kysely<SwarmDatabase>, subject: LoginSubject): Promise<void> {
  await db
    .deleteFrom('login_attempts')
    .where('kind', '=', subject.kind)
    .where('subject', '=', toDbText(subject.subject))
    .execute();
}

/** Deletes counts whose last failure is older than `before` and whose lock has passed. */
export async function pruneLoginAttempts(db: Kysely<SwarmDatabase>, before: string): Promise<number> {
  const result = await db
    .deleteFrom('login_attempts')
    .where('last_failure_at', '<', before)
    .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', before)]))
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
