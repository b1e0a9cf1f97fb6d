import { useEffect, useState } from 'react';
import { api, ApiError, onUnauthenticated, setCsrfToken } from './api.js';
import { Login } from './pages/Login.js';
import { navigate, useRoute } from './router.js';
import { VIEWS } from './routes.js';
import { SessionContext, type Session } from './session.js';
import { ThemeToggle } from './components/ThemeToggle.js';

export function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const route = useRoute();

  useEffect(() => {
    onUnauthenticated(() => setSession(null));
    api<Session>('GET', '/auth/session')
      .then(signIn)
      .catch((e: unknown) => {
        if (!(e instanceof ApiError)) console.error(e);
        setSession(null);
      });
  }, []);

  function signIn(next: Session) {
    setCsrfToken(next.csrfToken);
    setSession(next);
  }

  async function signOut() {
    await api('POST', '/auth/logout').catch(() => undefined);
    setCsrfToken(null);
    setSession(null);
  }

  if (session === undefined) return <p className="muted center">Loading…</p>;
  if (session === null) return <Login onSignedIn={signIn} />;

  const views = VIEWS.filter((v) => session.scopes.includes(v.scope));
  const view = views.find((v) => v.path === route.segments[0]);
  if (view === undefined && views[0] !== undefined) {
    navigate(`/${views[0].path}`);
    return null;
  }

  return (
    <SessionContext.Provider value={session}>
      <div className="shell">
        <header className="topbar">
          <a className="brand" href="#/">
            Swarm
          </a>
          <nav aria-label="Main">
            {views
              .filter((v) => v.within === undefined)
              .map((v) => (
                <a
                  key={v.path}
                  href={`#/${v.path}`}
                  aria-current={v === view || v.path === view?.within ? 'page' : undefined}
                >
                  {v.nav}
                  {v.badge?.()}
                </a>
              ))}
          </nav>
          <div className="who">
            <ThemeToggle />
            <span title={session.user.email}>
              {session.user.name} <span className="muted">({session.user.role})</span>
            </span>
            <button type="button" className="link" onClick={() => void signOut()}>
              Sign out
            </button>
          </div>
        </header>
        <main className="content">{view?.render(route)}</main>
      </div>
    </SessionContext.Provider>
  );
}
