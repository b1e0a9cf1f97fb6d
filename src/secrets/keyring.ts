import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { decodeMasterKey, MASTER_KEY_BYTES, type Config } from '../config/index.js';
import { SwarmError } from '../errors/index.js';

export interface MasterKey {
  readonly version: number;
  readonly key: Buffer;
}

/**
 * The master keys secrets are encrypted under, by version. New values use the current (highest)
 * version; older versions stay readable until no secret uses them.
 */
export interface Keyring {
  /** Where the keys come from: a variable, or the key file. */
  readonly source: 'SWARM_MASTER_KEY' | 'SWARM_MASTER_KEYS' | 'file';
  /** The variable's name or the file's path, for messages. */
  readonly description: string;
  /** Whether `addVersion` can add a key (only a key file can). */
  readonly writable: boolean;
  /** The key new values are encrypted under; the key file is generated on first need. */
  current(): MasterKey;
  /** The key of one version; MASTER_KEY_MISSING when it is not configured. */
  key(version: number): Buffer;
  /** The versions there are now, ascending (never generates the file). */
  versions(): number[];
  /** Adds a new version and makes it current (key file only; MASTER_KEY_READONLY otherwise). */
  addVersion(): MasterKey;
  /** Forgets versions (key file only); the current one is never removed. */
  removeVersions(versions: readonly number[]): void;
}

export interface KeyringOptions {
  /** Where warnings go (the generated-key warning, once per process). @default stderr */
  readonly warn?: (message: string) => void;
}

/** The keyring the configuration describes: the variables when set, else the key file. */
export function openKeyring(
  config: Pick<Config, 'masterKeys' | 'masterKeyFile'>,
  options: KeyringOptions = {},
): Keyring {
  const warn = options.warn ?? ((message: string) => void process.stderr.write(`${message}\n`));
  if (config.masterKeys !== undefined) return envKeyring(config.masterKeys, config.masterKeyFile, warn);
  return new FileKeyring(config.masterKeyFile, warn);
}

/** A fresh random key as base64, for a user to put into SWARM_MASTER_KEYS. */
export function generateMasterKey(): string {
  return randomBytes(MASTER_KEY_BYTES).toString('base64');
}

/** Warnings already given in this process (per file): each is loud once, not on every request. */
const warned = new Set<string>();
function warnOnce(id: string, warn: (message: string) => void, message: string): void {
  if (warned.has(id)) return;
  warned.add(id);
  warn(message);
}

function missing(version: number, where: string, have: readonly number[]): SwarmError {
  const known = have.length === 0 ? 'none' : have.map((v) => `v${v}`).join(', ');
  return new SwarmError(
    'MASTER_KEY_MISSING',
    `master key version ${version} is not in ${where} (it has: ${known}); ` +
      'add the key that encrypted these secrets, or set the secrets again',
  );
}

function envKeyring(
  keys: NonNullable<Config['masterKeys']>,
  keyFile: string,
  warn: (message: string) => void,
): Keyring {
  const versions = [...keys.keys.keys()].sort((a, b) => a - b);
  let checkedFile = false;
  const noteIgnoredFile = () => {
    if (checkedFile) return;
    checkedFile = true;
    if (fs.existsSync(keyFile))
      warnOnce(
        `ignored:${keyFile}`,
        warn,
        `swarm: ${keys.source} is set, so the key file ${keyFile} is ignored; ` +
          'secrets encrypted under its keys read only once its keys are in SWARM_MASTER_KEYS',
      );
  };
  return {
    source: keys.source,
    description: keys.source,
    writable: false,
    current() {
      noteIgnoredFile();
      return { version: keys.current, key: keys.keys.get(keys.current)! };
    },
    key(version) {
      noteIgnoredFile();
      const key = keys.keys.get(version);
      if (key === undefined) throw missing(version, keys.source, versions);
      return key;
    },
    versions: () => [...versions],
    addVersion() {
      throw readOnly(keys.source, keys.current);
    },
    removeVersions() {
      throw readOnly(keys.source, keys.current);
    },
  };
}

function readOnly(source: string, current: number): SwarmError {
  const next = `v${current + 1}:${generateMasterKey()}`;
  const how =
    source === 'SWARM_MASTER_KEY'
      ? `replace SWARM_MASTER_KEY with SWARM_MASTER_KEYS=v1:<your SWARM_MASTER_KEY>,${next}`
      : `add a new version there, e.g. SWARM_MASTER_KEYS=v1:<key>,…,${next}`;
  return new SwarmError(
    'MASTER_KEY_READONLY',
    `every secret already uses the newest master key, and the keys come from ${source}, which Swarm ` +
      `cannot change: ${how} (a new random key), give it to every server and worker, then run ` +
      `\`swarm secrets rotate-key\` again to re-encrypt every secret under v${current + 1}`,
  );
}

/** The key file's JSON. */
interface KeyFile {
  readonly format: typeof FILE_FORMAT;
  readonly current: number;
  readonly keys: Record<string, string>;
  readonly note?: string;
}

const FILE_FORMAT = 'swarm-master-keys/1';
const FILE_NOTE =
  'Swarm master keys for secrets (AES-256, base64), by version; "current" encrypts new values. ' +
  'Losing this file loses every secret: back it up. In production, move these keys to ' +
  'SWARM_MASTER_KEYS=v1:<key>,v2:<key> and delete this file.';

/**
 * `$SWARM_HOME/master.key`: every version's key, written with mode 0600. Re-read whenever the
 * file changes (another process rotated), so long-running processes follow a rotation.
 */
class FileKeyring implements Keyring {
  readonly source = 'file' as const;
  readonly writable = true;
  private cached: { signature: string; current: number; keys: Map<number, Buffer> } | null = null;

  constructor(
    private readonly file: string,
    private readonly warn: (message: string) => void,
  ) {}

  get description(): string {
    return this.file;
  }

  current(): MasterKey {
    const loaded = this.load() ?? this.generate();
    return { version: loaded.current, key: loaded.keys.get(loaded.current)! };
  }

  key(version: number): Buffer {
    const loaded = this.load();
    if (loaded === null) {
      throw new SwarmError(
        'MASTER_KEY_MISSING',
        `no master key: SWARM_MASTER_KEY and SWARM_MASTER_KEYS are not set and ${this.file} does not exist, ` +
          `so secrets encrypted under key version ${version} cannot be read`,
      );
    }
    const key = loaded.keys.get(version);
    if (key === undefined)
      throw missing(
        version,
        this.file,
        [...loaded.keys.keys()].sort((a, b) => a - b),
      );
    return key;
  }

  versions(): number[] {
    const loaded = this.load();
    return loaded === null ? [] : [...loaded.keys.keys()].sort((a, b) => a - b);
  }

  addVersion(): MasterKey {
    return this.locked(() => {
      const loaded = this.load() ?? this.generate();
      const version = Math.max(...loaded.keys.keys()) + 1;
      const keys = new Map(loaded.keys);
      const key = randomBytes(MASTER_KEY_BYTES);
      keys.set(version, key);
      this.write(version, keys, 'replace');
      return { version, key };
    });
  }

  removeVersions(versions: readonly number[]): void {
    this.locked(() => {
      const loaded = this.load();
      if (loaded === null) return;
      const keys = new Map(loaded.keys);
      for (const version of versions) if (version !== loaded.current) keys.delete(version);
      if (keys.size !== loaded.keys.size) this.write(loaded.current, keys, 'replace');
    });
  }

  /** The file's keys, re-read when it changed; null when there is no file. */
  private load(): { current: number; keys: Map<number, Buffer> } | null {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(this.file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        this.cached = null;
        return null;
      }
      throw error;
    }
    const signature = `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
    if (this.cached?.signature === signature) return this.cached;
    const parsed = this.parse(fs.readFileSync(this.file, 'utf8'));
    if ((stat.mode & 0o077) !== 0) {
      warnOnce(
        `mode:${this.file}`,
        this.warn,
        `swarm: WARNING: ${this.file} is readable by others (mode ${(stat.mode & 0o777).toString(8)}); chmod 600 it`,
      );
    }
    warnOnce(
      `file:${this.file}`,
      this.warn,
      `swarm: WARNING: secrets are encrypted with the master key in ${this.file}, next to the data. ` +
        'Back it up; in production set SWARM_MASTER_KEYS instead (see docs/secrets.md).',
    );
    this.cached = { signature, ...parsed };
    return this.cached;
  }

  private parse(text: string): { current: number; keys: Map<number, Buffer> } {
    // The message names the file and what is wrong, never a key.
    const invalid = (why: string) =>
      new SwarmError('CONFIG_INVALID', `master key file ${this.file} is not valid: ${why}`);
    let json: Partial<KeyFile>;
    try {
      json = JSON.parse(text) as Partial<KeyFile>;
    } catch {
      throw invalid('not JSON');
    }
    if (json === null || typeof json !== 'object') throw invalid('not a JSON object');
    if (json.format !== FILE_FORMAT) throw invalid(`"format" must be "${FILE_FORMAT}"`);
    if (typeof json.keys !== 'object' || json.keys === null) throw invalid('"keys" must be an object');
    const keys = new Map<number, Buffer>();
    for (const [name, value] of Object.entries(json.keys)) {
      const version = Number(name);
      if (!/^[1-9]\d{0,8}$/.test(name)) throw invalid(`key version "${name}" is not a positive integer`);
      const key = typeof value === 'string' ? decodeMasterKey(value) : null;
      if (key === null) throw invalid(`key version ${name} is not ${MASTER_KEY_BYTES} bytes of base64`);
      keys.set(version, key);
    }
    const current = json.current;
    if (typeof current !== 'number' || !keys.has(current))
      throw invalid('"current" must name one of its keys');
    return { current, keys };
  }

  /** Creates the file with a first key, unless another process just did (then that one wins). */
  private generate(): { current: number; keys: Map<number, Buffer> } {
    const created = this.write(1, new Map([[1, randomBytes(MASTER_KEY_BYTES)]]), 'create');
    if (created) {
      // The loud warning below says all; the shorter "key file in use" one would repeat it.
      warned.add(`file:${this.file}`);
      warnOnce(
        `generated:${this.file}`,
        this.warn,
        [
          '',
          '!!! WARNING: generated a new master key for secrets:',
          `!!!   ${this.file}`,
          '!!! It sits next to the data it protects: anyone who can read that folder can read every',
          '!!! secret, and losing the file loses every secret. Back it up now. For production, move',
          '!!! its keys into SWARM_MASTER_KEYS=v1:<key> (or SWARM_MASTER_KEY) and delete the file.',
          '!!! See docs/secrets.md.',
          '',
        ].join('\n'),
      );
    }
    const loaded = this.load();
    if (loaded === null) throw new SwarmError('INTERNAL', `${this.file} vanished after it was written`);
    return loaded;
  }

  /**
   * Writes the keys with mode 0600 through a temporary file: `create` links it into place only
   * if no file exists (false when one does), `replace` renames it over the old one.
   */
  private write(current: number, keys: ReadonlyMap<number, Buffer>, how: 'create' | 'replace'): boolean {
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const body: KeyFile = {
      format: FILE_FORMAT,
      current,
      keys: Object.fromEntries(
        [...keys.entries()].sort(([a], [b]) => a - b).map(([v, k]) => [String(v), k.toString('base64')]),
      ),
      note: FILE_NOTE,
    };
    const temp = `${this.file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    fs.writeFileSync(temp, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    try {
      fs.chmodSync(temp, 0o600);
      if (how === 'replace') {
        fs.renameSync(temp, this.file);
        return true;
      }
      try {
        fs.linkSync(temp, this.file);
        return true;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw error;
      }
    } finally {
      fs.rmSync(temp, { force: true });
    }
  }

  /** One key-file change at a time across processes (a lock file next to it). */
  private locked<T>(fn: () => T): T {
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const lock = `${this.file}.lock`;
    let fd: number;
    try {
      fd = fs.openSync(lock, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      throw new SwarmError(
        'CONFLICT',
        `${lock} exists: another \`swarm secrets rotate-key\` is changing the key file ` +
          '(if none is running, a crashed one left it behind: delete it)',
      );
    }
    try {
      return fn();
    } finally {
      fs.closeSync(fd);
      fs.rmSync(lock, { force: true });
    }
  }
}
