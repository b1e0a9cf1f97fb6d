import { useState, type FormEvent } from 'react';
import { api, get } from '../api.js';
import { ShownOnce } from '../components/ShownOnce.js';
import { ago, errorText } from '../components/admin-format.js';
import { useAdminLoad } from '../components/useAdminLoad.js';
import { useSession } from '../session.js';
import './admin.css';

type Role = 'admin' | 'member' | 'viewer';
const ROLES: readonly Role[] = ['admin', 'member', 'viewer'];
/** What an admin may grant beyond a role (GRANTABLE_SCOPES on the server). */
const PUBLISH = 'agents:publish';

interface UserRow {
  readonly id: string;
  readonly name: string;
  readonly email: string;
  readonly role: Role;
  readonly status: 'active' | 'disabled';
  readonly grants?: readonly string[];
  readonly lastSignedInAt?: string | null;
}

interface WithPassword {
  readonly user: UserRow;
  readonly password?: string;
}

/** Users (admins only, `users:admin`): create, role, disable/enable, password reset, grants. */
export function UsersPage() {
  const me = useSession().user;
  const users = useAdminLoad(() => get<{ items: UserRow[] }>('/users'), 'users');
  const [shown, setShown] = useState<{ title: string; password: string } | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function change(user: UserRow, patch: Partial<Pick<UserRow, 'role' | 'status' | 'grants'>>) {
    try {
      await api('PATCH', `/users/${encodeURIComponent(user.id)}`, patch);
      setError(null);
    } catch (e) {
      setError(errorText(e));
    }
    users.reload();
  }

  async function resetPassword(user: UserRow) {
    if (!window.confirm(`Reset ${user.email}'s password? Their sessions end.`)) return;
    try {
      const res = await api<WithPassword>('POST', `/users/${encodeURIComponent(user.id)}/password`, {});
      if (res.password !== undefined)
        setShown({ title: `New password for ${user.email}`, password: res.password });
      setError(null);
    } catch (e) {
      setError(errorText(e));
    }
  }

  return (
    <section className="admin">
      <h1>Users</h1>
      <CreateUserForm
        onCreated={(res) => {
          users.reload();
          if (res.password !== undefined)
            setShown({ title: `Password for ${res.user.email}`, password: res.password });
        }}
      />
      {(error ?? users.error) !== null && (
        <p role="alert" className="error">
          {error ?? users.error}
        </p>
      )}
      {users.data === null ? (
        <p className="muted">Loading…</p>
      ) : (
        <table className="table" aria-label="Users">
          <thead>
            <tr>
              <th>Name</th>
              <th>Email</th>
              <th>Role</th>
              <th>Status</th>
              <th>Publish agents</th>
              <th>Last sign-in</th>
              <th aria-label="Actions" />
            </tr>
          </thead>
          <tbody>
            {users.data.items.map((user) => {
              const self = user.id === me.id;
              const grants = user.grants ?? [];
              return (
                <tr key={user.id}>
                  <td>{user.name}</td>
                  <td>{user.email}</td>
                  <td>
                    <select
                      aria-label={`Role of ${user.email}`}
                      value={user.role}
                      disabled={self}
                      onChange={(e) => void change(user, { role: e.target.value as Role })}
                    >
                      {ROLES.map((r) => (
                        <option key={r}>{r}</option>
                      ))}
                    </select>
                  </td>
                  <td>
                    <span className={`status status-${user.status}`}>{user.status}</span>
                  </td>
                  <td>
                    {user.role === 'admin' ? (
                      <span className="muted">by role</span>
                    ) : (
                      <input
                        type="checkbox"
                        aria-label={`${user.email} may publish agents`}
                        checked={grants.includes(PUBLISH)}
                        disabled={user.role !== 'member'}
                        onChange={(e) =>
                          void change(user, {
                            grants: e.target.checked ? [PUBLISH] : grants.filter((g) => g !== PUBLISH),
                          })
                        }
                      />
                    )}
                  </td>
                  <td>{ago(user.lastSignedInAt)}</td>
                  <td>
                    <div className="admin-actions">
                      {!self && (
                        <button
                          type="button"
                          className="secondary"
                          onClick={() =>
                            void change(user, { status: user.status === 'active' ? 'disabled' : 'active' })
                          }
                        >
                          {user.status === 'active' ? 'Disable' : 'Enable'}
                        </button>
                      )}
                      <button type="button" className="secondary" onClick={() => void resetPassword(user)}>
                        Reset password
                      </button>
                    </div>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {shown !== null && (
        <ShownOnce
          title={shown.title}
          label="Password"
          value={shown.password}
          onClose={() => setShown(null)}
        />
      )}
    </section>
  );
}

function CreateUserForm({ onCreated }: { onCreated: (res: WithPassword) => void }) {
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('member');
  const [password, setPassword] = useState('');
  const [publish, setPublish] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    try {
      const res = await api<WithPassword>('POST', '/users', {
        email: email.trim(),
        name: name.trim() === '' ? email.trim().split('@')[0] : name.trim(),
        role,
        ...(password === '' ? {} : { password }),
        ...(publish && role === 'member' ? { grants: [PUBLISH] } : {}),
      });
      setEmail('');
      setName('');
      setPassword('');
      setPublish(false);
      setError(null);
      onCreated(res);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="card admin-form" aria-label="New user" onSubmit={(e) => void submit(e)}>
      <h2>New user</h2>
      <div className="admin-row">
        <label>
          Email
          <input type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        <label>
          Name
          <input value={name} placeholder="from the email" onChange={(e) => setName(e.target.value)} />
        </label>
        <label>
          Role
          <select value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {ROLES.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </label>
        <label>
          Password <span className="muted">(empty: generated)</span>
          <input
            type="password"
            autoComplete="new-password"
            minLength={12}
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        <label className="admin-check">
          <input
            type="checkbox"
            checked={publish}
            disabled={role !== 'member'}
            onChange={(e) => setPublish(e.target.checked)}
          />
          may publish agents
        </label>
        <button type="submit" disabled={busy}>
          Create user
        </button>
      </div>
      {error !== null && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </form>
  );
}
