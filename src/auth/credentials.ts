import fs from 'node:fs';
import path from 'node:path';
import { SwarmError } from '../errors/index.js';

/**
 * The local CLI's credentials, in `$SWARM_HOME/credentials` (mode 0600): one per database a
 * server in this home has bootstrapped. A credential is never overwritten: the admin key of a
 * database is shown once, so starting another database in the same folder adds an entry beside
 * it. What a start changes is where that database's server was last seen (`url`, `startedAt`).
 *
 * The file was once a single `{"apiKey", "url"}` object; such a file reads as one credential
 * named `default` (its database unknown) and is rewritten in the new form on the next change.
 */
export interface SavedCredential {
  /** A short name to choose it by (`--credential`, `SWARM_CREDENTIAL`): `sqlite`, `postgres`, … */
  readonly name: string;
  readonly apiKey: string;
  /** The database it was made on (see `databaseIdentity`); undefined for an old-format file. */
  readonly database?: string;
  /** Where that database's server last listened. */
  readonly url?: string;
  readonly createdAt?: string;
  /** When a server on that database last started. */
  readonly startedAt?: string;
}

/** The old name of one credential, kept for callers that want a single one. */
export type Credentials = SavedCredential;

interface CredentialFile {
  readonly credentials: SavedCredential[];
}

export function credentialsPath(home: string): string {
  return path.join(home, 'credentials');
}

/**
 * A database without its password or options: `sqlite:/abs/path.db` or
 * `postgres://user@host:port/db`. Two URLs of one database give one identity. It reads the
 * forms storage accepts (`postgres://`, `postgresql://`; `sqlite:`, `sqlite://`, `file:` or a
 * path), here rather than through storage, whose modules the CLI does not load to start fast.
 */
export function databaseIdentity(databaseUrl: string, cwd: string = process.cwd()): string {
  const text = databaseUrl.trim();
  if (!/^postgres(ql)?:\/\//i.test(text)) {
    const rest = text.replace(/^(sqlite|file):(\/\/)?/i, '').split('?', 1)[0] ?? '';
    return `sqlite:${rest === ':memory:' ? rest : path.resolve(cwd, decodeURIComponent(rest))}`;
  }
  const url = new URL(text);
  const host = url.hostname || url.searchParams.get('host') || 'localhost';
  const database = decodeURIComponent(url.pathname.replace(/^\//, '')) || decodeURIComponent(url.username);
  const user = url.username === '' ? '' : `${decodeURIComponent(url.username)}@`;
  return `postgres://${user}${host}:${url.port || '5432'}/${database}`;
}

/** Every saved credential, oldest first; [] without a file. */
export function listCredentials(home: string): SavedCredential[] {
  const file = credentialsPath(home);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return parseFile(text, file).credentials;
}

/** The credential of the server that started last in this home, if any. */
export function readCredentials(home: string): SavedCredential | null {
  return latest(listCredentials(home)) ?? null;
}

/** The one most recently started (or created), for when nothing else decides. */
export function latest(credentials: readonly SavedCredential[]): SavedCredential | undefined {
  const time = (c: SavedCredential) => c.startedAt ?? c.createdAt ?? '';
  return credentials.reduce<SavedCredential | undefined>(
    (best, c) => (best === undefined || time(c) >= time(best) ? c : best),
    undefined,
  );
}

/**
 * Adds the admin key made on a database's first start. Never replaces an entry: it gets a name
 * of its own (`postgres-2` when `postgres` is taken). Returns the file and the name given.
 */
export async function saveCredential(
  home: string,
  credential: { apiKey: string; database: string; url: string },
): Promise<{ file: string; name: string }> {
  let name = '';
  const file = await updateFile(home, (credentials) => {
    const same = credentials.find((c) => c.apiKey === credential.apiKey);
    if (same !== undefined) {
      name = same.name;
      return credentials;
    }
    name = freeName(credentials, credential.database.startsWith('sqlite:') ? 'sqlite' : 'postgres');
    const now = new Date().toISOString();
    return [...credentials, { name, ...credential, createdAt: now, startedAt: now }];
  });
  return { file, name };
}

/**
 * Records that a server on `database` listens at `url`, so the CLI finds it there. An
 * old-format credential (database unknown) is claimed for this database when `holdsKey` says
 * its key is one of this database's.
 */
export async function noteServerStarted(
  home: string,
  server: { database: string; url: string },
  holdsKey: (apiKey: string) => Promise<boolean>,
): Promise<void> {
  const saved = listCredentials(home);
  const unclaimed = saved.filter((c) => c.database === undefined);
  const claimed = new Set<string>();
  for (const c of unclaimed) if (await holdsKey(c.apiKey)) claimed.add(c.apiKey);
  if (!saved.some((c) => c.database === server.database) && claimed.size === 0) return;
  const now = new Date().toISOString();
  await updateFile(home, (credentials) =>
    credentials.map((c) =>
      c.database === server.database || (c.database === undefined && claimed.has(c.apiKey))
        ? { ...c, database: server.database, url: server.url, startedAt: now }
        : c,
    ),
  );
}

function freeName(credentials: readonly SavedCredential[], base: string): string {
  const taken = new Set(credentials.map((c) => c.name));
  if (!taken.has(base)) return base;
  let n = 2;
  while (taken.has(`${base}-${n}`)) n++;
  return `${base}-${n}`;
}

function parseFile(text: string, file: string): CredentialFile {
  const invalid = () =>
    new SwarmError(
      'CONFIG_INVALID',
      `credentials file ${file} is not valid: expected JSON with a "credentials" list (or an "apiKey")`,
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalid();
  }
  if (typeof parsed !== 'object' || parsed === null) throw invalid();
  const record = parsed as Record<string, unknown>;
  // The old form: one credential, its database unknown.
  if (!('credentials' in record)) {
    if (typeof record.apiKey !== 'string' || record.apiKey === '') throw invalid();
    return {
      credentials: [
        {
          name: 'default',
          apiKey: record.apiKey,
          ...(typeof record.url === 'string' ? { url: record.url } : {}),
        },
      ],
    };
  }
  if (!Array.isArray(record.credentials)) throw invalid();
  const credentials: SavedCredential[] = [];
  for (const entry of record.credentials as unknown[]) {
    const c = entry as Record<string, unknown> | null;
    if (c === null || typeof c !== 'object' || typeof c.apiKey !== 'string' || typeof c.name !== 'string')
      throw invalid();
    const text = (key: string) => (typeof c[key] === 'string' ? { [key]: c[key] as string } : {});
    credentials.push({
      name: c.name,
      apiKey: c.apiKey,
      ...text('database'),
      ...text('url'),
      ...text('createdAt'),
      ...text('startedAt'),
    });
  }
  return { credentials };
}

/** Read, change and write the file under a lock file, so servers starting together lose no entry. */
async function updateFile(
  home: string,
  change: (credentials: SavedCredential[]) => SavedCredential[],
): Promise<string> {
  const file = credentialsPath(home);
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  const release = await lock(`${file}.lock`);
  try {
    const next = change(listCredentials(home));
    const temp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(temp, JSON.stringify({ credentials: next }, null, 2) + '\n', { mode: 0o600 });
    // The mode given to writeFileSync is masked by umask; make sure.
    fs.chmodSync(temp, 0o600);
    fs.renameSync(temp, file);
    return file;
  } finally {
    release();
  }
}

/** A lock file taken with O_EXCL; one left by a crashed process is taken over after 10 s. */
async function lock(lockFile: string): Promise<() => void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      fs.closeSync(fs.openSync(lockFile, 'wx', 0o600));
      return () => fs.rmSync(lockFile, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    try {
      if (Date.now() - fs.statSync(lockFile).mtimeMs > 10_000) fs.rmSync(lockFile, { force: true });
    } catch {
      // Released meanwhile.
    }
    if (Date.now() > deadline)
      throw new SwarmError('INTERNAL', `cannot lock ${lockFile}: another process holds it`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
