import { createContext, useContext } from 'react';

export interface User {
  readonly id: string;
  readonly name: string;
  readonly email: string;
  readonly role: 'admin' | 'member' | 'viewer';
}

export interface Session {
  readonly user: User;
  readonly csrfToken: string;
  /** Every scope the signed-in user may use: buttons that would 403 are not shown. */
  readonly scopes: readonly string[];
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (session === null) throw new Error('useSession outside a signed-in page');
  return session;
}

/** Whether the signed-in user may use `scope` (e.g. `runs:write`). */
export function useCan(scope: string): boolean {
  return useSession().scopes.includes(scope);
}
