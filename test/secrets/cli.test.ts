import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { openKeyring, SecretsService } from '../../src/secrets/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { cliWithInput as cli } from '../helpers/cli.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../helpers/databases.js';

describe.each(DIALECTS)('swarm secrets on %s', (dialect) => {
  let testDb: TestDatabase;
  let server: RunningServer | undefined;
  let home: string;

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    home = path.join(testDb.dir, 'home');
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await testDb.drop();
  });

  async function start(extra: NodeJS.ProcessEnv = {}): Promise<NodeJS.ProcessEnv> {
    const base = { DATABASE_URL: testDb.url, SWARM_HOME: home, ...extra };
    server = await startServer(
      loadConfig({
        ...base,
        SWARM_PORT: '0',
        SWARM_LOG_LEVEL: 'silent',
        SWARM_WORKER: 'false',
        SWARM_EXAMPLES: 'false',
      }),
    );
    return { ...base, SWARM_URL: server.url };
  }

  async function values(env: NodeJS.ProcessEnv, names: string[]): Promise<Record<string, string>> {
    const admin = (await server!.store.system.findFirstAdmin())!;
    const keyring = openKeyring(loadConfig(env), { warn: () => {} });
    return new SecretsService(server!.store, keyring).resolve(admin.id, names);
  }

  it('sets from --value, --from-file and stdin, lists and removes, never printing a value', async () => {
    const env = await start();
    const secret = 'v@lue-from-flag';
    const set = await cli(['secrets', 'set', 'FLAG_SECRET', '--value', secret], env);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toBe('created secret FLAG_SECRET (global), key version 1\n');

    const file = path.join(testDb.dir, 'value.txt');
    fs.writeFileSync(file, 'line one\nline two\n');
    const fromFile = await cli(['secrets', 'set', 'FILE_SECRET', '--from-file', file, '--json'], env);
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(JSON.parse(fromFile.stdout)).toMatchObject({
      created: true,
      secret: { name: 'FILE_SECRET', keyVersion: 1 },
    });

    const piped = await cli(['secrets', 'set', 'PIPED_SECRET'], env, 'piped-value-123\n');
    expect(piped.code, piped.stderr).toBe(0);
    const replaced = await cli(['secrets', 'set', 'FLAG_SECRET'], env, 'replaced-by-stdin\r\n');
    expect(replaced.stdout).toBe('updated secret FLAG_SECRET (global), key version 1\n');

    expect(await values(env, ['FLAG_SECRET', 'FILE_SECRET', 'PIPED_SECRET'])).toEqual({
      FLAG_SECRET: 'replaced-by-stdin',
      // A file is taken byte for byte; stdin loses one final newline.
      FILE_SECRET: 'line one\nline two\n',
      PIPED_SECRET: 'piped-value-123',
    });
    // The server generated the key file on first need, readable by its owner only.
    expect(fs.statSync(path.join(home, 'master.key')).mode & 0o777).toBe(0o600);

    const list = await cli(['secrets', 'list'], env);
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')[0]).toMatch(/^NAME +SCOPE +WORKFLOW +KEY +UPDATED$/);
    expect(list.stdout).toMatch(/^FILE_SECRET +global +- +1 +\d{4}-/m);
    const json = JSON.parse((await cli(['secrets', 'list', '--json'], env)).stdout);
    expect(json.map((s: { name: string }) => s.name)).toEqual(['FILE_SECRET', 'FLAG_SECRET', 'PIPED_SECRET']);

    const rm = await cli(['secrets', 'rm', 'PIPED_SECRET'], env);
    expect(rm).toMatchObject({ code: 0, stdout: 'removed secret PIPED_SECRET\n' });
    const again = await cli(['secrets', 'rm', 'PIPED_SECRET'], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe('swarm: secret not found: PIPED_SECRET [NOT_FOUND]\n');

    const printed = [set, fromFile, piped, replaced, list, rm].map((r) => r.stdout + r.stderr).join('');
    for (const value of [secret, 'line one', 'piped-value-123', 'replaced-by-stdin'])
      expect(printed).not.toContain(value);
  });

  it('refuses bad input before sending anything, naming the place', async () => {
    const env = await start();
    const cases: Array<[string[], string | undefined, RegExp]> = [
      [
        ['secrets', 'set', 'bad-name', '--value', 'x-123456'],
        undefined,
        /^swarm: NAME: must start with a letter or _/,
      ],
      [
        ['secrets', 'set', 'OK', '--value', 'a-123456', '--from-file', 'f'],
        undefined,
        /^swarm: --value: give --value or --from-file, not both/,
      ],
      [['secrets', 'set', 'OK'], '', /^swarm: stdin: must not be empty \[INPUT_INVALID\]/],
      [['secrets', 'set', 'OK'], '\n', /^swarm: stdin: must not be empty/],
      [['secrets', 'set', 'OK', '--value', ''], undefined, /^swarm: --value: must not be empty/],
      [
        ['secrets', 'set', 'OK', '--from-file', path.join(testDb.dir, 'missing')],
        undefined,
        /^swarm: --from-file: cannot read .*missing: ENOENT/,
      ],
      [
        ['secrets', 'set', 'OK', '--value', 'val-123456', '--workflow', 'nope'],
        undefined,
        /^swarm: workflow: no workflow named "nope" \[INPUT_INVALID\]/,
      ],
    ];
    for (const [argv, stdin, message] of cases) {
      const result = await cli(argv, env, stdin);
      expect(result.code, argv.join(' ')).toBe(1);
      expect(result.stderr).toMatch(message);
    }
    expect((await cli(['secrets', 'list', '--json'], env)).stdout).toBe('[]\n');
    expect((await cli(['secrets', 'list'], env)).stdout).toBe('no secrets\n');
  });

  it('rotate-key re-encrypts every secret under a new version of the key file, straight in the database', async () => {
    const env = await start();
    for (const [name, value] of [
      ['ONE', 'first-value'],
      ['TWO', 'second-value'],
    ])
      expect((await cli(['secrets', 'set', name!, '--value', value!], env)).code).toBe(0);
    const rotated = await cli(['secrets', 'rotate-key'], { DATABASE_URL: testDb.url, SWARM_HOME: home });
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout).toMatch(
      /^re-encrypted 2 secrets under master key version 2 \(new, key file .*master\.key\); 0 already used it$/m,
    );
    expect(rotated.stdout).toMatch(/^1 +0 +yes$/m);
    expect(rotated.stdout).toMatch(/^2 +2 +yes$/m);
    const keys = JSON.parse(fs.readFileSync(path.join(home, 'master.key'), 'utf8'));
    expect(keys).toMatchObject({ format: 'swarm-master-keys/1', current: 2 });
    expect(Object.keys(keys.keys)).toEqual(['1', '2']);
    expect((await cli(['secrets', 'list'], env)).stdout).toMatch(/^ONE +global +- +2 /m);
    // The running server follows the file: it reads v2 values and writes new ones under v2.
    expect(await values(env, ['ONE', 'TWO'])).toEqual({ ONE: 'first-value', TWO: 'second-value' });
    expect((await cli(['secrets', 'set', 'THREE', '--value', 'third-value'], env)).stdout).toMatch(
      /key version 2$/m,
    );

    const json = JSON.parse(
      (await cli(['secrets', 'rotate-key', '--json'], { DATABASE_URL: testDb.url, SWARM_HOME: home })).stdout,
    );
    expect(json).toMatchObject({ version: 3, reencrypted: 3, removedVersions: [1] });
    expect(await values(env, ['ONE', 'TWO', 'THREE'])).toEqual({
      ONE: 'first-value',
      TWO: 'second-value',
      THREE: 'third-value',
    });
  });

  it('rotate-key with keys from the environment says how to add one, then re-encrypts onto it', async () => {
    const k1 = randomBytes(32).toString('base64');
    const k2 = randomBytes(32).toString('base64');
    const env = await start({ SWARM_MASTER_KEY: k1 });
    expect((await cli(['secrets', 'set', 'TOKEN', '--value', 'token-value'], env)).code).toBe(0);
    expect(fs.existsSync(path.join(home, 'master.key'))).toBe(false);

    const refused = await cli(['secrets', 'rotate-key'], {
      DATABASE_URL: testDb.url,
      SWARM_HOME: home,
      SWARM_MASTER_KEY: k1,
    });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /^swarm: every secret already uses the newest master key, and the keys come from SWARM_MASTER_KEY, which Swarm cannot change: replace SWARM_MASTER_KEY with SWARM_MASTER_KEYS=v1:<your SWARM_MASTER_KEY>,v2:\S+ .*rotate-key.* \[MASTER_KEY_READONLY\]\n$/,
    );
    expect(refused.stderr).not.toContain(k1);

    const rotateEnv = { DATABASE_URL: testDb.url, SWARM_HOME: home, SWARM_MASTER_KEYS: `v1:${k1},v2:${k2}` };
    const rotated = await cli(['secrets', 'rotate-key'], rotateEnv);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout).toMatch(
      /^re-encrypted 1 secret under master key version 2 \(SWARM_MASTER_KEYS\)/m,
    );
    expect(rotated.stdout).toMatch(/^no secret uses v1 any more: it can go from SWARM_MASTER_KEYS$/m);
    expect(await values({ SWARM_MASTER_KEYS: `v2:${k2}` }, ['TOKEN'])).toEqual({ TOKEN: 'token-value' });
    expect(fs.existsSync(path.join(home, 'master.key'))).toBe(false);
  });
});
