import type { ApprovalSpec, ApproverRole } from '../runtimes/index.js';

/** Who wants to decide: the person behind a request (an admin acting for the owner is the admin). */
export interface Person {
  readonly id: string;
  readonly email: string | null;
  readonly role: ApproverRole;
}

/**
 * Whether `person` may decide an approval of `ownerId`'s. The owner always may. Otherwise the
 * step's `approvers` decide: absent, anyone who can act for the owner with `runs:write` (the
 * route checked the scope); present, the person must be named (by id or email, emails compared
 * case-insensitively) or hold one of the roles.
 */
export function mayDecide(approvers: ApprovalSpec['approvers'], ownerId: string, person: Person): boolean {
  if (person.id === ownerId) return true;
  const users = approvers?.users ?? [];
  const roles = approvers?.roles ?? [];
  if (users.length === 0 && roles.length === 0) return true;
  const email = person.email?.toLowerCase();
  if (users.some((u) => u === person.id || (email !== undefined && u.toLowerCase() === email))) return true;
  return roles.includes(person.role);
}
