import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { openKeyring } from '../../src/secrets/index.js';

const key = randomBytes(32);

describe('master keys from the environment', () => {
  it.each([
    ['base64', key.toString('base64')],
    ['base64 without padding', key.toString('base64').replace(/=+$/, '')],
    ['base64url', key.toString('base64url')],
    ['hex', key.toString('hex')],
    ['HEX with spaces around', `  ${key.toString('hex').toUpperCase()} `],
  ])('SWARM_MASTER_KEY as %s is version 1', (_form, text) => {
    const config = loadConfig({ SWARM_MASTER_KEY: text }, '/srv');
    expect(config.masterKeys?.current).toBe(1);
    expect(config.masterKeys?.keys.get(1)?.equals(key)).toBe(true);
    // The key bytes never show when the configuration is printed.
    expect(JSON.stringify(config)).not.toContain(key.toString('base64'));
    const keyring = openKeyring(config);
    expect(keyring.current()).toEqual({ version: 1, key });
    expect(keyring.source).toBe('SWARM_MASTER_KEY');
  });

  it.each([
    ['too short', randomBytes(16).toString('base64')],
    ['too long', randomBytes(33).toString('base64')],
    ['not base64 or hex', 'correct horse battery staple, 32 bytes or so......'],
    ['63 hex digits', key.toString('hex').slice(1)],
  ])('refuses a SWARM_MASTER_KEY that is %s, naming the variable and not the value', (_why, text) => {
    let message = '';
    try {
      loadConfig({ SWARM_MASTER_KEY: text });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(
      /^SWARM_MASTER_KEY: must be 32 bytes as base64 \(44 characters\) or hex \(64 digits\)/,
    );
    expect(message).not.toContain(text);
  });

  it('reads SWARM_MASTER_KEYS by version, the highest current, and refuses bad lists', () => {
    const k2 = randomBytes(32);
    const config = loadConfig({
      SWARM_MASTER_KEYS: `v2:${k2.toString('base64')}, v1:${key.toString('hex')}`,
    });
    expect(config.masterKeys?.current).toBe(2);
    const keyring = openKeyring(config);
    expect(keyring.versions()).toEqual([1, 2]);
    expect(keyring.key(1).equals(key)).toBe(true);
    expect(keyring.current()).toEqual({ version: 2, key: k2 });
    expect(() => keyring.key(3)).toThrow(
      expect.objectContaining({
        code: 'MASTER_KEY_MISSING',
        message: expect.stringMatching(/version 3 is not in SWARM_MASTER_KEYS \(it has: v1, v2\)/),
      }),
    );

    const b64 = key.toString('base64');
    expect(() => loadConfig({ SWARM_MASTER_KEYS: b64 })).toThrow(
      /^SWARM_MASTER_KEYS: entry 1 must be "v<version>:<key>"/,
    );
    expect(() => loadConfig({ SWARM_MASTER_KEYS: `v1:${b64},v1:${b64}` })).toThrow(
      /^SWARM_MASTER_KEYS: version 1 is given twice/,
    );
    expect(() => loadConfig({ SWARM_MASTER_KEYS: `v0:${b64}` })).toThrow(
      /^SWARM_MASTER_KEYS: entry 1: versions start at 1/,
    );
    expect(() => loadConfig({ SWARM_MASTER_KEYS: `v1:${b64},v2:short` })).toThrow(
      /^SWARM_MASTER_KEYS: v2: must be 32 bytes/,
    );
    expect(() => loadConfig({ SWARM_MASTER_KEY: b64, SWARM_MASTER_KEYS: `v1:${b64}` })).toThrow(
      /^SWARM_MASTER_KEYS: set SWARM_MASTER_KEY \(one key\) or SWARM_MASTER_KEYS/,
    );
  });

  it('cannot add a version to variables: the error says how, with a fresh key', () => {
    const keyring = openKeyring(loadConfig({ SWARM_MASTER_KEY: key.toString('base64') }));
    expect(keyring.writable).toBe(false);
    expect(() => keyring.addVersion()).toThrow(
      expect.objectContaining({
        code: 'MASTER_KEY_READONLY',
        message: expect.stringMatching(
          /replace SWARM_MASTER_KEY with SWARM_MASTER_KEYS=v1:<your SWARM_MASTER_KEY>,v2:[A-Za-z0-9+/]{43}= .*rotate-key/,
        ),
      }),
    );
  });
});

describe('the master key file', () => {
  let home: string;
  beforeEach(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-keys-'));
  });
  afterEach(() => fs.rmSync(home, { recursive: true, force: true }));

  it('is generated on first need with mode 0600 and one loud warning, and holds several versions', () => {
    const config = loadConfig({ SWARM_HOME: home });
    expect(config.masterKeyFile).toBe(path.join(home, 'master.key'));
    const warnings: string[] = [];
    const keyring = openKeyring(config, { warn: (m) => warnings.push(m) });
    expect(keyring.versions()).toEqual([]);
    expect(fs.existsSync(config.masterKeyFile)).toBe(false);
    expect(() => keyring.key(1)).toThrow(expect.objectContaining({ code: 'MASTER_KEY_MISSING' }));

    const first = keyring.current();
    expect(first.version).toBe(1);
    expect(fs.statSync(config.masterKeyFile).mode & 0o777).toBe(0o600);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/WARNING: generated a new master key/);
    expect(warnings[0]).toContain(config.masterKeyFile);
    expect(warnings[0]).toMatch(/Back it up/);
    expect(warnings[0]).toMatch(/SWARM_MASTER_KEYS/);

    const file = JSON.parse(fs.readFileSync(config.masterKeyFile, 'utf8'));
    expect(file).toMatchObject({
      format: 'swarm-master-keys/1',
      current: 1,
      keys: { '1': first.key.toString('base64') },
    });

    // Another process (another keyring) reads the same file, and follows a rotation at once.
    const other = openKeyring(config, { warn: (m) => warnings.push(m) });
    expect(other.current()).toEqual(first);
    const second = keyring.addVersion();
    expect(second.version).toBe(2);
    expect(other.current()).toEqual(second);
    expect(other.key(1).equals(first.key)).toBe(true);
    expect(fs.statSync(config.masterKeyFile).mode & 0o777).toBe(0o600);
    keyring.removeVersions([1, 2]);
    expect(other.versions()).toEqual([2]);
    // Warned once per process, however many keyrings read the file.
    expect(warnings).toHaveLength(1);
    expect(fs.readdirSync(home).sort()).toEqual(['master.key']);
  });

  it('SWARM_MASTER_KEY_FILE moves it; a broken file is a clear CONFIG_INVALID without the keys', () => {
    const file = path.join(home, 'keys', 'swarm.keys');
    const config = loadConfig({ SWARM_HOME: home, SWARM_MASTER_KEY_FILE: file });
    expect(config.masterKeyFile).toBe(file);
    const secretKey = key.toString('base64');
    fs.mkdirSync(path.dirname(file));
    fs.writeFileSync(
      file,
      JSON.stringify({ format: 'swarm-master-keys/1', current: 2, keys: { '1': secretKey } }),
    );
    const keyring = openKeyring(config, { warn: () => {} });
    let error: Error & { code?: string } = new Error();
    try {
      keyring.current();
    } catch (e) {
      error = e as typeof error;
    }
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toBe(`master key file ${file} is not valid: "current" must name one of its keys`);
    fs.writeFileSync(file, '{"format":"swarm-master-keys/1","current":1,"keys":{"1":"c2hvcnQ="}}');
    expect(() => keyring.key(1)).toThrow(/key version 1 is not 32 bytes of base64/);
    fs.writeFileSync(file, 'not json');
    expect(() => keyring.key(1)).toThrow(/is not valid: not JSON/);
  });

  it('is ignored, with a warning, when SWARM_MASTER_KEYS is set', () => {
    fs.writeFileSync(path.join(home, 'master.key'), '{}');
    const warnings: string[] = [];
    const keyring = openKeyring(
      loadConfig({ SWARM_HOME: home, SWARM_MASTER_KEYS: `v3:${key.toString('base64')}` }),
      {
        warn: (m) => warnings.push(m),
      },
    );
    expect(keyring.current().version).toBe(3);
    expect(warnings).toEqual([
      expect.stringMatching(/SWARM_MASTER_KEYS is set, so the key file .* is ignored/),
    ]);
  });
});
