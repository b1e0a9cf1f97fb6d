import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  credentialsPath,
  databaseIdentity,
  listCredentials,
  noteServerStarted,
  saveCredential,
} from '../../src/auth/credentials.js';
import { loadConfig } from '../../src/config/index.js';
import { resolveTarget } from '../../src/cli/target.js';

const SQLITE = 'sqlite:/srv/a/.swarm/swarm.db';
const PG = 'postgres://swarm@db:5432/swarm';

describe('the credentials file', () => {
  let home: string;
  beforeEach(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-credentials-'));
  });
  afterEach(() => fs.rmSync(home, { recursive: true, force: true }));

  it('names a database without its password or options', () => {
    expect(databaseIdentity('postgres://u:secret@h:6543/db?sslmode=require')).toBe('postgres://u@h:6543/db');
    expect(databaseIdentity('postgresql://u@h/db')).toBe('postgres://u@h:5432/db');
    expect(databaseIdentity('sqlite:x.db?synchronous=normal', '/srv')).toBe('sqlite:/srv/x.db');
    expect(databaseIdentity('/srv/x.db')).toBe('sqlite:/srv/x.db');
  });

  it('keeps a credential per database and never overwrites one', async () => {
    const a = await saveCredential(home, {
      apiKey: 'swarm_a',
      database: SQLITE,
      url: 'http://127.0.0.1:7373',
    });
    const b = await saveCredential(home, { apiKey: 'swarm_b', database: PG, url: 'http://127.0.0.1:17373' });
    // The same database bootstrapped again (it was wiped): a new entry beside the old one.
    const c = await saveCredential(home, {
      apiKey: 'swarm_c',
      database: SQLITE,
      url: 'http://127.0.0.1:7373',
    });
    expect([a.name, b.name, c.name]).toEqual(['sqlite', 'postgres', 'sqlite-2']);
    expect(listCredentials(home).map((x) => [x.name, x.apiKey, x.database])).toEqual([
      ['sqlite', 'swarm_a', SQLITE],
      ['postgres', 'swarm_b', PG],
      ['sqlite-2', 'swarm_c', SQLITE],
    ]);
    expect(fs.statSync(credentialsPath(home)).mode & 0o777).toBe(0o600);
  });

  it('loses no entry when servers save at the same time', async () => {
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        saveCredential(home, { apiKey: `swarm_${i}`, database: `${PG}${i}`, url: 'http://x' }),
      ),
    );
    expect(
      listCredentials(home)
        .map((c) => c.apiKey)
        .sort(),
    ).toEqual(Array.from({ length: 12 }, (_, i) => `swarm_${i}`).sort());
    expect(fs.readdirSync(home)).toEqual(['credentials']);
  });

  it('records where a database’s server listens now, for that database only', async () => {
    await saveCredential(home, { apiKey: 'swarm_a', database: SQLITE, url: 'http://127.0.0.1:7373' });
    await saveCredential(home, { apiKey: 'swarm_b', database: PG, url: 'http://127.0.0.1:17373' });
    await noteServerStarted(home, { database: SQLITE, url: 'http://127.0.0.1:9999' }, async () => false);
    expect(listCredentials(home).map((c) => c.url)).toEqual([
      'http://127.0.0.1:9999',
      'http://127.0.0.1:17373',
    ]);
  });

  it('reads the old one-key file, and lets the database holding that key claim it', async () => {
    fs.writeFileSync(
      credentialsPath(home),
      JSON.stringify({ apiKey: 'swarm_old', url: 'http://127.0.0.1:7373' }),
    );
    expect(listCredentials(home)).toEqual([
      { name: 'default', apiKey: 'swarm_old', url: 'http://127.0.0.1:7373' },
    ]);
    // Another database does not hold the key: nothing changes.
    await noteServerStarted(home, { database: PG, url: 'http://127.0.0.1:1' }, async () => false);
    expect(listCredentials(home)[0]!.database).toBeUndefined();
    await noteServerStarted(
      home,
      { database: SQLITE, url: 'http://127.0.0.1:7474' },
      async (k) => k === 'swarm_old',
    );
    expect(listCredentials(home)).toMatchObject([
      { name: 'default', apiKey: 'swarm_old', database: SQLITE, url: 'http://127.0.0.1:7474' },
    ]);
    // And a second database's key goes beside it.
    await saveCredential(home, { apiKey: 'swarm_pg', database: PG, url: 'http://127.0.0.1:17373' });
    expect(listCredentials(home).map((c) => c.apiKey)).toEqual(['swarm_old', 'swarm_pg']);
  });

  it('refuses a file it cannot read, naming it', () => {
    fs.writeFileSync(credentialsPath(home), '{"credentials": 3}');
    expect(() => listCredentials(home)).toThrow(/credentials file .* is not valid/);
  });
});

describe('the credential and server the CLI uses', () => {
  let home: string;
  beforeEach(async () => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-target-'));
    await saveCredential(home, {
      apiKey: 'swarm_sqlite',
      database: `sqlite:${path.join(home, 'swarm.db')}`,
      url: 'http://127.0.0.1:17373',
    });
  });
  afterEach(() => fs.rmSync(home, { recursive: true, force: true }));
  const target = (env: NodeJS.ProcessEnv) => resolveTarget(loadConfig({ SWARM_HOME: home, ...env }), home);

  it('talks to the URL saved with the credential unless SWARM_URL or SWARM_PORT says otherwise', () => {
    expect(target({})).toMatchObject({ url: 'http://127.0.0.1:17373', apiKey: 'swarm_sqlite', note: null });
    expect(target({ SWARM_PORT: '7000' })).toMatchObject({
      url: 'http://127.0.0.1:7000',
      urlFrom: 'SWARM_PORT',
    });
    expect(target({ SWARM_URL: 'http://h:1' })).toMatchObject({ url: 'http://h:1', apiKey: 'swarm_sqlite' });
    expect(target({ SWARM_API_KEY: 'swarm_env' })).toMatchObject({
      apiKey: 'swarm_env',
      keyFrom: 'SWARM_API_KEY',
    });
  });

  it('with several, picks by --credential, by server URL, by database, else the latest with a note', async () => {
    await saveCredential(home, { apiKey: 'swarm_pg', database: PG, url: 'http://127.0.0.1:17374' });
    // The environment's database is the home's SQLite file.
    expect(target({}).credential?.name).toBe('sqlite');
    expect(target({ DATABASE_URL: 'postgres://swarm:pw@db/swarm' }).credential?.name).toBe('postgres');
    expect(target({ SWARM_PORT: '17374' }).credential?.name).toBe('postgres');
    expect(target({ SWARM_CREDENTIAL: 'postgres' })).toMatchObject({
      apiKey: 'swarm_pg',
      url: 'http://127.0.0.1:17374',
    });
    expect(target({ SWARM_CREDENTIAL: 'http://127.0.0.1:17373/' }).credential?.name).toBe('sqlite');
    expect(() => target({ SWARM_CREDENTIAL: 'nope' })).toThrow(
      /no saved credential "nope"; saved: sqlite, postgres/,
    );
    const guessed = target({ DATABASE_URL: 'sqlite:/elsewhere.db' });
    expect(guessed.credential?.name).toBe('postgres');
    expect(guessed.note).toMatch(
      /using credential "postgres" .* choose with --credential NAME or SWARM_CREDENTIAL/,
    );
  });

  it('says how to get a key when none is saved', () => {
    fs.rmSync(credentialsPath(home));
    expect(() => target({})).toThrow(/no API key: set SWARM_API_KEY, or start a server once/);
  });
});
