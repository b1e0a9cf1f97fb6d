import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';
import { startSwarm, stopAll, swarm } from '../helpers/swarm-process.js';

interface WhoAmI {
  url: string;
  credential: string | null;
  database: string | null;
  user: { email: string } | null;
}

// The README's first hour, with the built CLI through `./swarm`: a server started with
// SWARM_PORT in one shell, the CLI in another with nothing set; then a second database started
// in the same folder. Each dialect takes its turn as that second database.
// Several server starts per test: generous bounds for a loaded machine.
describe.each(DIALECTS)(
  'the first start, and a second database (%s) in the same folder',
  { timeout: 240_000 },
  (dialect) => {
    let second: TestDatabase;
    let folder: string;

    beforeEach(async () => {
      second = await createTestDatabase(dialect);
      folder = path.join(second.dir, 'clone');
      fs.mkdirSync(folder);
    });
    afterEach(async () => {
      await stopAll();
      await second.drop();
    });

    const start = (env: NodeJS.ProcessEnv, firstStart: boolean) =>
      startSwarm({ SWARM_EXAMPLES: 'false', ...env }, folder, firstStart);
    const whoami = async (env: NodeJS.ProcessEnv = {}, args: string[] = []) => {
      const ran = await swarm([...args, 'whoami', '--json'], env, folder);
      expect(ran.code, ran.stderr).toBe(0);
      return { ...(JSON.parse(ran.stdout) as WhoAmI), stderr: ran.stderr };
    };

    it("uses the saved server URL, keeps each database's key, and says which it uses", async () => {
      // SWARM_PORT only for the server: port 0 stands for "some port other than the default".
      const sqlite = await start({ SWARM_PORT: '0' }, true);
      expect(sqlite.key).toMatch(/^swarm_/);
      expect(sqlite.output.text).toMatch(/^Saved as credential "sqlite" in /m);
      const first = await whoami();
      expect(first).toMatchObject({
        url: sqlite.url,
        credential: 'sqlite',
        user: { email: 'admin@localhost' },
      });
      expect(first.stderr).toBe('');
      const agents = await swarm(['agent', 'list'], {}, folder);
      expect(agents.code, agents.stderr).toBe(0);

      // A second database started in the same folder adds its key; it overwrites nothing.
      const other = await start(
        { SWARM_PORT: '0', DATABASE_URL: dialect === 'sqlite' ? `sqlite:other.db` : second.url },
        true,
      );
      expect(other.key).toMatch(/^swarm_/);
      expect(other.key).not.toBe(sqlite.key);
      const otherName = dialect === 'sqlite' ? 'sqlite-2' : 'postgres';
      const file = fs.readFileSync(path.join(folder, '.swarm', 'credentials'), 'utf8');
      expect(file).toContain(sqlite.key!);
      expect(file).toContain(other.key!);

      // The CLI in a shell with nothing set still uses the database `npm start` uses here.
      expect(await whoami()).toMatchObject({ url: sqlite.url, credential: 'sqlite' });
      // The other is chosen by its database, its URL, or by name; each key works on its server.
      const otherDb = dialect === 'sqlite' ? 'sqlite:other.db' : second.url;
      for (const chosen of [
        await whoami({ DATABASE_URL: otherDb }),
        await whoami({ SWARM_URL: other.url }),
        await whoami({}, ['--credential', otherName]),
        await whoami({ SWARM_CREDENTIAL: otherName }),
      ])
        expect(chosen).toMatchObject({
          url: other.url,
          credential: otherName,
          user: { email: 'admin@localhost' },
        });
      // Nothing says which: the one started last, named on stderr.
      const guessed = await whoami({ DATABASE_URL: 'sqlite:third.db' });
      expect(guessed.credential).toBe(otherName);
      expect(guessed.stderr).toMatch(
        new RegExp(`^swarm: using credential "${otherName}" .*--credential NAME`),
      );

      const listed = await swarm(['credentials', 'list'], {}, folder);
      expect(listed.stdout).toMatch(/^\*\s+sqlite\s/m);
      expect(listed.stdout).not.toContain(sqlite.key!);

      // Started again on another port: the CLI follows it there.
      await sqlite.stop();
      const again = await start({ SWARM_PORT: '0' }, false);
      expect(again.output.text).not.toMatch(/swarm_/);
      expect(await whoami()).toMatchObject({
        url: again.url,
        credential: 'sqlite',
        user: { email: 'admin@localhost' },
      });
    });

    it('a port in use is PORT_IN_USE, naming the port and SWARM_PORT, with exit code 1', async () => {
      const running = await start({ SWARM_PORT: '0' }, true);
      const port = new URL(running.url).port;
      const env = { SWARM_PORT: port, DATABASE_URL: dialect === 'sqlite' ? 'sqlite:other.db' : second.url };
      const refused = await swarm(['start'], env, folder);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(
        new RegExp(
          `^swarm: port ${port} on 127\\.0\\.0\\.1 is in use .*SWARM_PORT.* \\[PORT_IN_USE\\]$`,
          'm',
        ),
      );
    });

    it('an old one-key credentials file keeps working and is claimed by its database', async () => {
      const sqlite = await start({ SWARM_PORT: '0' }, true);
      await sqlite.stop();
      const file = path.join(folder, '.swarm', 'credentials');
      // As an older Swarm wrote it, with a port that is no longer right.
      fs.writeFileSync(file, JSON.stringify({ apiKey: sqlite.key, url: 'http://127.0.0.1:1' }), {
        mode: 0o600,
      });
      const again = await start({ SWARM_PORT: '0' }, false);
      expect(await whoami()).toMatchObject({
        url: again.url,
        credential: 'default',
        database: `sqlite:${path.join(folder, '.swarm', 'swarm.db')}`,
        user: { email: 'admin@localhost' },
      });
    });
  },
);
