/**
 * Memory cgroups: the kernel's hard limit on a whole process tree. Where the worker may create
 * cgroups below its own (cgroup v2 with the memory controller delegated, or a writable cgroup v1
 * memory hierarchy), each attempt gets one: `memory.max` / `memory.limit_in_bytes` set to the
 * agent's memory_mb, swap off, and the kernel's OOM killer ends the attempt when it is exceeded.
 * Everything the agent starts is in the cgroup, so killing its members kills the whole tree, even
 * processes that left the process group.
 *
 * A child process cannot be placed in a cgroup before it runs from Node (no pre-exec hook), and
 * moving it after spawn leaves a window in which it could fork outside. So the program is started
 * through a fixed trampoline: `/bin/sh -c 'unset PWD OLDPWD; echo 0 > "$0" || exit 125; exec "$@"'
 * <cgroup.procs> <program> <args…>`. The script is a constant: it joins the cgroup, then execs the
 * program with its argument array unchanged. No text from the agent, its manifest or its input is
 * ever parsed by the shell (they are positional parameters, expanded only as "$@"). A shell adds
 * variables of its own (PWD; bash also SHLVL and _), so the trampoline is tried at start-up and
 * used only if the program it starts sees exactly the environment it was given.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

/** A shell and a constant script that join the cgroup named by "$0", then exec "$@". */
export interface Trampoline {
  readonly shell: string;
  readonly script: string;
}

const TRAMPOLINES: readonly Trampoline[] = [
  // dash (Debian's and Ubuntu's /bin/sh) adds only PWD.
  { shell: '/bin/sh', script: 'unset PWD OLDPWD; echo 0 > "$0" || exit 125; exec "$@"' },
  { shell: '/bin/dash', script: 'unset PWD OLDPWD; echo 0 > "$0" || exit 125; exec "$@"' },
  // bash puts SHLVL and _ back on exec; env(1) takes them out. Needs a program path without "=".
  {
    shell: '/bin/sh',
    script: 'echo 0 > "$0" || exit 125; exec /usr/bin/env -u PWD -u OLDPWD -u SHLVL -u _ "$@"',
  },
];

/**
 * The first trampoline whose program sees exactly the environment it was given, tried with
 * /dev/null in place of cgroup.procs; null when none does.
 */
export function findTrampoline(node: string): Trampoline | null {
  for (const trampoline of TRAMPOLINES) {
    if (!existsSync(trampoline.shell)) continue;
    try {
      const seen = execFileSync(
        trampoline.shell,
        [
          '-c',
          trampoline.script,
          '/dev/null',
          node,
          '-e',
          'process.stdout.write(Object.keys(process.env).join())',
        ],
        { env: { SWARM_PROBE: '1' }, timeout: 10_000, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
      );
      if (seen === 'SWARM_PROBE') return trampoline;
    } catch {
      // this one does not work here; try the next
    }
  }
  return null;
}
/** The trampoline's exit status when it could not join the cgroup. */
export const TRAMPOLINE_FAILED = 125;

export interface CgroupParent {
  readonly version: 1 | 2;
  /** The folder attempts' cgroups are created in: the worker's own cgroup. */
  readonly dir: string;
  readonly trampoline: Trampoline;
}

export type CgroupDetection = { ok: true; parent: CgroupParent } | { ok: false; reason: string };

interface Mount {
  readonly root: string;
  readonly point: string;
  readonly fstype: string;
  readonly options: readonly string[];
}

function mounts(): Mount[] {
  const text = readFileSync('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .filter((l) => l.includes(' - '))
    .map((line) => {
      const [head = '', tail = ''] = line.split(' - ');
      const fields = head.split(' ');
      const [fstype = '', , superOptions = ''] = tail.split(' ');
      const unescape = (s: string) =>
        s.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
      return {
        root: unescape(fields[3] ?? ''),
        point: unescape(fields[4] ?? ''),
        fstype,
        options: superOptions.split(','),
      };
    });
}

function join(mount: Mount, cgroupPath: string): string {
  const relative =
    mount.root !== '/' && (cgroupPath === mount.root || cgroupPath.startsWith(`${mount.root}/`))
      ? cgroupPath.slice(mount.root.length)
      : cgroupPath;
  return path.join(mount.point, relative);
}

/** Creates, limits and removes a throw-away cgroup under `dir`: the proof that attempts can. */
function probe(version: 1 | 2, dir: string): string | null {
  const child = path.join(dir, `swarm-probe-${process.pid}-${randomBytes(3).toString('hex')}`);
  try {
    mkdirSync(child);
  } catch (error) {
    return `cannot create a cgroup in ${dir}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
  }
  try {
    const file = version === 2 ? 'memory.max' : 'memory.limit_in_bytes';
    if (!existsSync(path.join(child, file))) return `${dir} has no ${file}`;
    writeFileSync(path.join(child, file), String(64 * 1024 * 1024));
    return null;
  } catch (error) {
    return `cannot set a memory limit in ${dir}: ${(error as Error).message}`;
  } finally {
    try {
      rmdirSync(child);
    } catch {
      // an empty cgroup that just got created; nothing useful to do if it refuses
    }
  }
}

/** Whether attempts can get a memory cgroup of their own here, and where. */
export function detectCgroup(node: string): CgroupDetection {
  if (process.platform !== 'linux') return { ok: false, reason: 'not Linux' };
  const trampoline = findTrampoline(node);
  if (trampoline === null)
    return {
      ok: false,
      reason: 'no shell starts a program with its environment unchanged (/bin/sh, /bin/dash)',
    };
  let own: string;
  let all: Mount[];
  try {
    own = readFileSync('/proc/self/cgroup', 'utf8');
    all = mounts();
  } catch (error) {
    return { ok: false, reason: `cannot read /proc: ${(error as Error).message}` };
  }
  const lines = own
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [, controllers = '', ...rest] = l.split(':');
      return { controllers: controllers.split(','), path: rest.join(':') };
    });
  const reasons: string[] = [];
  // cgroup v2: the memory controller must be available and enabled for the worker's children.
  const unified = lines.find((l) => l.controllers.length === 1 && l.controllers[0] === '');
  const v2mount = all.find((m) => m.fstype === 'cgroup2');
  if (unified !== undefined && v2mount !== undefined) {
    const dir = join(v2mount, unified.path);
    const available = readOr(path.join(dir, 'cgroup.controllers')).split(/\s+/);
    if (!available.includes('memory')) {
      reasons.push(`cgroup v2: the memory controller is not delegated to ${dir}`);
    } else {
      const enabled = readOr(path.join(dir, 'cgroup.subtree_control')).split(/\s+/);
      let ready = enabled.includes('memory');
      if (!ready) {
        try {
          writeFileSync(path.join(dir, 'cgroup.subtree_control'), '+memory');
          ready = true;
        } catch (error) {
          // EBUSY: the worker's own cgroup holds processes (v2's "no internal processes" rule).
          reasons.push(
            `cgroup v2: cannot enable the memory controller below ${dir} (${(error as NodeJS.ErrnoException).code ?? 'refused'}); run the worker in a delegated cgroup of its own`,
          );
        }
      }
      if (ready) {
        const problem = probe(2, dir);
        if (problem === null) return { ok: true, parent: { version: 2, dir, trampoline } };
        reasons.push(`cgroup v2: ${problem}`);
      }
    }
  }
  // cgroup v1: a memory hierarchy whose worker cgroup is writable.
  const v1 = lines.find((l) => l.controllers.includes('memory'));
  const v1mount = all.find((m) => m.fstype === 'cgroup' && m.options.includes('memory'));
  if (v1 !== undefined && v1mount !== undefined) {
    const dir = join(v1mount, v1.path);
    const problem = probe(1, dir);
    if (problem === null) return { ok: true, parent: { version: 1, dir, trampoline } };
    reasons.push(`cgroup v1: ${problem}`);
  }
  if (reasons.length === 0) reasons.push('no memory cgroup is mounted');
  return { ok: false, reason: reasons.join('; ') };
}

function readOr(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}

/**
 * Removes the empty cgroups a previous worker process left behind (it died before cleaning up).
 * Only empty ones: rmdir refuses a cgroup that still holds processes.
 */
export function removeStaleCgroups(parent: CgroupParent): void {
  let names: string[];
  try {
    names = readdirSync(parent.dir);
  } catch {
    return;
  }
  for (const name of names) {
    const match = /^swarm-(\d+)-/.exec(name);
    if (match === null || Number(match[1]) === process.pid || pidAlive(Number(match[1]))) continue;
    try {
      rmdirSync(path.join(parent.dir, name));
    } catch {
      // still busy: not ours to kill
    }
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** One attempt's cgroup. */
export class AttemptCgroup {
  private constructor(
    readonly version: 1 | 2,
    readonly dir: string,
  ) {}

  static async create(parent: CgroupParent, label: string, memoryMb: number): Promise<AttemptCgroup> {
    const safe = label.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 80);
    const dir = path.join(parent.dir, `swarm-${process.pid}-${safe}-${randomBytes(3).toString('hex')}`);
    await mkdir(dir);
    const cgroup = new AttemptCgroup(parent.version, dir);
    const bytes = String(memoryMb * 1024 * 1024);
    try {
      if (parent.version === 2) {
        await writeFile(path.join(dir, 'memory.max'), bytes);
        await cgroup.tryWrite('memory.swap.max', '0');
        // One process over the limit ends the whole group, not just the biggest member.
        await cgroup.tryWrite('memory.oom.group', '1');
      } else {
        await writeFile(path.join(dir, 'memory.limit_in_bytes'), bytes);
        // memory+swap no higher than memory: the limit cannot be dodged by swapping.
        await cgroup.tryWrite('memory.memsw.limit_in_bytes', bytes);
        await cgroup.tryWrite('memory.swappiness', '0');
      }
    } catch (error) {
      await cgroup.remove();
      throw error;
    }
    return cgroup;
  }

  /** The file the trampoline writes to join the cgroup. */
  get procsFile(): string {
    return path.join(this.dir, 'cgroup.procs');
  }

  private async tryWrite(file: string, value: string): Promise<void> {
    await writeFile(path.join(this.dir, file), value).catch(() => undefined);
  }

  /** How many times the kernel's OOM killer struck in this cgroup (null: it cannot tell). */
  async oomKills(): Promise<number | null> {
    const file = this.version === 2 ? 'memory.events' : 'memory.oom_control';
    const text = await readFile(path.join(this.dir, file), 'utf8').catch(() => '');
    const match = /^oom_kill (\d+)$/m.exec(text);
    return match === null ? null : Number(match[1]);
  }

  /** Whether the limit was ever hit (v1's failcnt, v2's max events). */
  async limitHit(): Promise<boolean> {
    if (this.version === 2) {
      const text = await readFile(path.join(this.dir, 'memory.events'), 'utf8').catch(() => '');
      return Number(/^max (\d+)$/m.exec(text)?.[1] ?? 0) > 0;
    }
    const text = await readFile(path.join(this.dir, 'memory.failcnt'), 'utf8').catch(() => '0');
    return Number(text.trim()) > 0;
  }

  /** The most memory the cgroup held, in bytes, when the kernel says. */
  async peakBytes(): Promise<number | null> {
    const file = this.version === 2 ? 'memory.peak' : 'memory.max_usage_in_bytes';
    const text = await readFile(path.join(this.dir, file), 'utf8').catch(() => '');
    return /^\d+$/.test(text.trim()) ? Number(text.trim()) : null;
  }

  async pids(): Promise<number[]> {
    const text = await readFile(this.procsFile, 'utf8').catch(() => '');
    return text
      .split('\n')
      .filter((l) => /^\d+$/.test(l))
      .map(Number);
  }

  /** SIGKILLs every member until none is left (or `rounds` run out); true when empty. */
  async killAll(rounds = 200): Promise<boolean> {
    if (this.version === 2) await this.tryWrite('cgroup.kill', '1');
    for (let round = 0; round < rounds; round++) {
      const pids = await this.pids();
      if (pids.length === 0) return true;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return (await this.pids()).length === 0;
  }

  /** Removes the (empty) cgroup; a just-killed member can keep it busy for a moment. */
  async remove(): Promise<void> {
    for (let round = 0; round < 100; round++) {
      try {
        await rmdir(this.dir);
        return;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return;
        if (code !== 'EBUSY') throw error;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
  }
}
