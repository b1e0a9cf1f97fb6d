/**
 * ProcessSandbox: the first Sandbox. The agent's program runs as a child process
 * - started with an argument array, `shell: false` (in cgroup mode through the constant
 *   trampoline described in cgroup.ts, which only joins the cgroup and execs the same array);
 * - in a process group and session of its own (`detached`), so the whole tree can be killed;
 * - in the attempt's working folder, with an environment of exactly PATH, HOME, TMPDIR, LANG and
 *   the granted variables: nothing of the worker's own (DATABASE_URL, SWARM_*…);
 * - under `memory_mb`, enforced by a memory cgroup where the worker can create one, otherwise by
 *   sampling the tree's RSS in /proc; node programs also get `--max-old-space-size`.
 * - where the host allows it (a root worker with util-linux), isolated as isolation.ts says: its
 *   own mount and PID namespaces, SWARM_HOME covered, an unprivileged uid. Otherwise it runs as the
 *   worker's user and can read what that user can, and the worker says so at start.
 * What it does NOT isolate: the network. `network:*` and `fs:*` permissions are recorded, not
 * enforced. A container or microVM sandbox is the answer to that (docs/runtimes.md).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { chown, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { RuntimeError } from '../errors.js';
import { AttemptCgroup, detectCgroup, removeStaleCgroups, type CgroupParent } from './cgroup.js';
import {
  describeIsolation,
  detectIsolation,
  isolatedCommand,
  unsafeForRoot,
  type Isolation,
  type IsolationOptions,
} from './isolation.js';
import { HAS_PROC, readProc } from './proc.js';
import { killTree, TreeSampler } from './sampler.js';
import type { Sandbox, SandboxedProcess, SandboxExit, SandboxRequest } from './types.js';

/** How memory_mb is enforced: `auto` takes a cgroup where one can be made, else samples RSS. */
export type MemoryEnforcement = 'auto' | 'cgroup' | 'sample';
export type MemoryMechanism = 'cgroup-v2' | 'cgroup-v1' | 'sample' | 'none';

export interface ProcessSandboxOptions {
  /** @default 'auto' */
  readonly memory?: MemoryEnforcement;
  /** The Node.js that runs node agents. @default process.execPath (the worker's own) */
  readonly node?: string;
  /**
   * The Python that runs python agents. @default `python3` as found on the worker's PATH when
   * the sandbox is created, resolved to the real interpreter (sys.executable) on first use, so a
   * version-manager shim that needs the worker's environment is not what the agent runs.
   */
  readonly python?: string;
  /** PATH inside the agent's environment. @default /usr/local/bin:/usr/bin:/bin */
  readonly path?: string;
  /** How often the RSS sampler (and the cgroup OOM check) looks. @default 100 */
  readonly sampleIntervalMs?: number;
  /** Namespaces and an unprivileged uid where the host allows them (isolation.ts). @default auto */
  readonly isolation?: IsolationOptions;
}

export const DEFAULT_AGENT_PATH = '/usr/local/bin:/usr/bin:/bin';

/** Set by shells, never passed to an agent (the cgroup trampoline removes them too). */
const SHELL_VARIABLES = new Set(['PWD', 'OLDPWD', 'SHLVL', '_']);

/** The first python3 on `searchPath`, or null. */
export function findOnPath(name: string, searchPath: string | undefined): string | null {
  for (const dir of (searchPath ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

export class ProcessSandbox implements Sandbox {
  readonly mechanism: MemoryMechanism;
  /** Why this mechanism: what was found, or why no cgroup could be used. */
  readonly detail: string;
  private readonly cgroup: CgroupParent | null;
  private readonly sampler: TreeSampler;
  private readonly node: string;
  private readonly pythonCandidate: string | null;
  private python: Promise<string> | null = null;
  private readonly agentPath: string;
  private readonly intervalMs: number;
  /** What an agent's code can see here; chosen once, said in describe(). */
  readonly isolation: Isolation;

  constructor(options: ProcessSandboxOptions = {}) {
    const want = options.memory ?? 'auto';
    this.intervalMs = options.sampleIntervalMs ?? 100;
    this.sampler = new TreeSampler(this.intervalMs);
    this.node = options.node ?? process.execPath;
    this.isolation = detectIsolation(this.node, options.isolation);
    if (options.isolation?.mode === 'namespaces' && this.isolation.kind === 'none') {
      throw new RuntimeError(
        'CONFIG_INVALID',
        `agent isolation by namespaces was asked for (SWARM_AGENT_ISOLATION=namespaces), but this host cannot: ${this.isolation.reason}`,
      );
    }
    this.pythonCandidate = options.python ?? findOnPath('python3', process.env.PATH);
    if (options.python !== undefined) this.python = Promise.resolve(options.python);
    this.agentPath = options.path ?? DEFAULT_AGENT_PATH;
    const detected = want === 'sample' ? null : detectCgroup(this.node);
    if (detected?.ok === true) {
      this.cgroup = detected.parent;
      this.mechanism = detected.parent.version === 2 ? 'cgroup-v2' : 'cgroup-v1';
      this.detail = `a memory cgroup per attempt under ${detected.parent.dir}`;
      removeStaleCgroups(detected.parent);
      return;
    }
    if (want === 'cgroup') {
      throw new RuntimeError(
        'CONFIG_INVALID',
        `memory limits by cgroup were asked for, but none can be used: ${detected?.reason ?? 'unknown'}`,
      );
    }
    this.cgroup = null;
    this.mechanism = HAS_PROC ? 'sample' : 'none';
    const why = detected === null ? 'sampling was asked for' : `no memory cgroup: ${detected.reason}`;
    this.detail = HAS_PROC
      ? `the process tree's RSS sampled every ${this.intervalMs} ms (${why})`
      : `not enforced: no /proc and ${why} (node agents still get --max-old-space-size)`;
  }

  get isolated(): boolean {
    return this.isolation.kind !== 'none';
  }

  describe(): string {
    return `process sandbox (child processes, empty environment, own working folder); ${describeIsolation(this.isolation)}; memory limit: ${this.mechanism}, ${this.detail}`;
  }

  private pythonPath(): Promise<string> {
    this.python ??= new Promise<string>((resolve, reject) => {
      const candidate = this.pythonCandidate;
      if (candidate === null) {
        reject(
          new RuntimeError('CONFIG_INVALID', 'python agents need python3, which is not on the worker’s PATH'),
        );
        return;
      }
      execFile(
        candidate,
        ['-c', 'import sys; print(sys.executable)'],
        { timeout: 30_000 },
        (error, stdout) => {
          const real = stdout.trim();
          if (error !== null || !path.isAbsolute(real)) {
            reject(
              new RuntimeError(
                'CONFIG_INVALID',
                `${candidate} does not run: ${error?.message ?? 'no sys.executable'}`,
              ),
            );
          } else resolve(this.runnableByAgent(real));
        },
      );
    }).catch((error: unknown) => {
      this.python = null; // try again next time: python may get installed
      throw error;
    });
    return this.python;
  }

  /**
   * The interpreter itself when the agent uid may run it; otherwise (a version manager's python
   * under /root) the system's python3, which it can. Not isolated: the interpreter as found.
   */
  private async runnableByAgent(interpreter: string): Promise<string> {
    const isolation = this.isolation;
    if (isolation.kind === 'none') return interpreter;
    for (const candidate of [interpreter, '/usr/local/bin/python3', '/usr/bin/python3']) {
      const real = await realpath(candidate).catch(() => null);
      if (real !== null && (await blockedFor(real, 5, isolation)) === null) return candidate;
    }
    throw new RuntimeError(
      'CONFIG_INVALID',
      `python agents run as uid ${isolation.uid}, which cannot run ${interpreter} (nor /usr/bin/python3): install python3 where others can run it`,
    );
  }

  private async command(request: SandboxRequest): Promise<[string, string[]]> {
    const entry = path.join(request.agentFolder, request.entry);
    switch (request.kind) {
      case 'node':
        // The heap is held under the limit too: V8 would otherwise grow past it before collecting.
        return [this.node, [`--max-old-space-size=${request.memoryMb}`, entry, ...request.args]];
      case 'python':
        // -B: no __pycache__ written into the agent's folder; -u: lines reach the worker at once.
        return [await this.pythonPath(), ['-B', '-u', entry, ...request.args]];
      case 'binary':
        return [entry, [...request.args]];
    }
  }

  async start(request: SandboxRequest): Promise<SandboxedProcess> {
    let [program, programArgs] = await this.command(request);
    const isolation = this.isolation;
    if (isolation.kind === 'namespaces') {
      const cover = await coverFor(request.hide ?? '', isolation);
      await readableByAgent(request.agentFolder, cover, isolation);
      // Its own working folder is the one place on SWARM_HOME's disk the agent may write.
      await chown(request.workFolder, isolation.uid, isolation.gid);
      [program, programArgs] = isolatedCommand(
        isolation,
        { hide: cover, work: request.workFolder, agent: request.agentFolder },
        program,
        programArgs,
      );
    }
    const dropped = (name: string) =>
      SHELL_VARIABLES.has(name) || (isolation.kind === 'namespaces' && unsafeForRoot(name));
    const env: Record<string, string> = {
      ...Object.fromEntries(Object.entries(request.env).filter(([name]) => !dropped(name))),
      PATH: this.agentPath,
      HOME: request.workFolder,
      TMPDIR: request.workFolder,
      LANG: 'C.UTF-8',
    };
    const trampoline = this.cgroup?.trampoline;
    if (trampoline?.script.includes('/usr/bin/env') === true && program.includes('=')) {
      throw new RuntimeError(
        'INTERNAL',
        `cannot start ${program}: env(1) would read a path with "=" as a variable`,
        {
          retryable: false,
          status: 502,
        },
      );
    }
    const cgroup =
      this.cgroup === null ? null : await AttemptCgroup.create(this.cgroup, request.label, request.memoryMb);
    const [command, args] =
      cgroup === null || trampoline === undefined
        ? [program, programArgs]
        : [trampoline.shell, ['-c', trampoline.script, cgroup.procsFile, program, ...programArgs]];
    let child: ChildProcess;
    try {
      child = spawn(command, args, {
        cwd: request.workFolder,
        env,
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
        shell: false,
        windowsHide: true,
      });
    } catch (error) {
      await cgroup?.remove();
      throw cannotStart(program, error);
    }
    const pid = child.pid;
    if (pid === undefined) {
      const error = await new Promise<unknown>((resolve) => child.once('error', resolve));
      await cgroup?.remove();
      throw cannotStart(program, error);
    }
    child.on('error', () => undefined); // a failed kill() of a dead child; the exit path decides
    child.stdin!.on('error', () => undefined); // EPIPE: the program did not read its message
    if (request.keepStdinOpen !== true) child.stdin!.end(request.stdin);
    else if (request.stdin !== '') child.stdin!.write(request.stdin);
    return new Attempt(child, pid, request.memoryMb, cgroup, this.sampler, this.intervalMs);
  }
}

/** Whether the agent uid has `bits` (4 r, 2 w, 1 x) on a file of this owner and mode. */
function permits(
  info: { uid: number; gid: number; mode: number },
  who: { uid: number; gid: number },
  bits: number,
) {
  const shift = info.uid === who.uid ? 6 : info.gid === who.gid ? 3 : 0;
  return ((info.mode >> shift) & 7 & bits) === bits;
}

/**
 * What the isolation covers: SWARM_HOME, or the highest folder above it the agent uid cannot
 * enter (SWARM_HOME in /root: /root), since the working folder is bound back at its own path and
 * the agent must be able to reach that path (HOME, TMPDIR).
 */
async function coverFor(hide: string, isolation: { uid: number; gid: number }): Promise<string> {
  if (hide === '') return '';
  const chain: string[] = [];
  for (let dir = hide; path.dirname(dir) !== dir; dir = path.dirname(dir)) chain.unshift(dir);
  for (const dir of chain) if (!permits(await stat(dir), isolation, 1)) return dir;
  return hide;
}

/**
 * The first of `target` and the folders above it that the agent uid cannot use (`target` needs
 * `own` bits: 5 for r-x, 1 for --x; every folder above it --x), or null. Folders inside `hide`
 * are skipped: the isolation binds `target` back there under a searchable cover.
 */
async function blockedFor(
  target: string,
  own: number,
  isolation: { uid: number; gid: number },
  hide = '',
): Promise<{ path: string; mode: number } | null> {
  const inHidden = (dir: string) => hide !== '' && (dir === hide || dir.startsWith(`${hide}${path.sep}`));
  for (let dir = target; ; dir = path.dirname(dir)) {
    if (dir === target || !inHidden(dir)) {
      const info = await stat(dir);
      if (!permits(info, isolation, dir === target ? own : 1)) return { path: dir, mode: info.mode & 0o777 };
    }
    if (path.dirname(dir) === dir) return null;
  }
}

/** Refuses, saying what to chmod, an agent folder the agent uid cannot read. */
async function readableByAgent(
  folder: string,
  hide: string,
  isolation: { uid: number; gid: number },
): Promise<void> {
  const blocked = await blockedFor(folder, 5, isolation, hide);
  if (blocked === null) return;
  throw new RuntimeError(
    'FORBIDDEN',
    `agents run as uid ${isolation.uid}, which cannot ${blocked.path === folder ? 'read' : 'enter'} ${blocked.path} (mode ${blocked.mode.toString(8)}): make the agent's folder readable by others (chmod o+rx) and the folders above it searchable (o+x)`,
    { retryable: false, status: 502 },
  );
}

function cannotStart(program: string, error: unknown): RuntimeError {
  return new RuntimeError('INTERNAL', `cannot start ${program}: ${(error as Error).message}`, {
    retryable: false,
    status: 502,
    cause: error,
  });
}

/** One running program and its tree. */
class Attempt implements SandboxedProcess {
  readonly id: string;
  readonly stdin;
  readonly stdout;
  readonly stderr;
  readonly exited: Promise<SandboxExit>;
  private killed = false;
  private ended = false;
  private memoryExceeded = false;
  private readonly known = new Map<number, string>();
  private readonly peakBytes: () => Promise<number | null>;

  constructor(
    private readonly child: ChildProcess,
    private readonly pid: number,
    memoryMb: number,
    private readonly cgroup: AttemptCgroup | null,
    sampler: TreeSampler,
    intervalMs: number,
  ) {
    this.id = String(pid);
    this.stdin = child.stdin!;
    this.stdout = child.stdout!;
    this.stderr = child.stderr!;
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    const limitBytes = memoryMb * 1024 * 1024;
    let stopWatching = () => {};
    let peakBytes = 0;
    let peakNow = async (): Promise<number | null> => (peakBytes > 0 ? peakBytes : null);
    if (cgroup === null && HAS_PROC) {
      void readProc(pid).then((info) => {
        if (info !== null && !this.ended) this.known.set(pid, info.startTime);
      });
      const watch = {
        root: pid,
        limitBytes,
        known: this.known,
        peakBytes: 0,
        onExceeded: () => {
          this.memoryExceeded = true;
          this.kill();
        },
      };
      const unwatch = sampler.watch(watch);
      peakNow = async () => (this.ended ? peakBytes : watch.peakBytes) || null;
      stopWatching = () => {
        peakBytes = watch.peakBytes;
        unwatch();
      };
    } else if (cgroup !== null) {
      const timer = setInterval(() => {
        void cgroup.oomKills().then((n) => {
          if (n !== null && n > 0 && !this.ended) {
            this.memoryExceeded = true;
            this.kill();
          }
        });
      }, intervalMs);
      timer.unref();
      stopWatching = () => clearInterval(timer);
      peakNow = () => cgroup.peakBytes();
    }
    this.peakBytes = peakNow;
    this.exited = (async () => {
      const { code, signal } = await exit;
      // The program is done: whatever it left running goes with it.
      await this.killRest();
      // Output still in the pipes is read; a descendant holding them open is dead by now.
      const drained = await Promise.race([
        closed.then(() => true),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 5000).unref()),
      ]);
      if (!drained) {
        child.stdout?.destroy();
        child.stderr?.destroy();
      }
      this.ended = true;
      stopWatching();
      let peak: number | null = peakBytes > 0 ? peakBytes : null;
      if (cgroup !== null) {
        const ooms = await cgroup.oomKills();
        if (ooms !== null ? ooms > 0 : signal === 'SIGKILL' && !this.killed && (await cgroup.limitHit()))
          this.memoryExceeded = true;
        peak = await cgroup.peakBytes();
        await cgroup.remove().catch(() => undefined);
      }
      return {
        code,
        signal,
        memoryExceeded: this.memoryExceeded,
        killed: this.killed,
        peakMemoryMb: peak === null ? null : Math.round((peak / 1024 / 1024) * 10) / 10,
      };
    })();
  }

  async peakMemoryMb(): Promise<number | null> {
    const bytes = await this.peakBytes();
    return bytes === null ? null : Math.round((bytes / 1024 / 1024) * 10) / 10;
  }

  kill(): void {
    if (this.ended) return;
    this.killed = true;
    if (this.cgroup === null && HAS_PROC) {
      // Not the group at once: its leader's death would orphan a member that left the group, and
      // the parentage that tells it belongs here would be lost. killTree freezes, then kills.
      void killTree(this.pid, this.known);
      return;
    }
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      // the group is gone already
    }
    if (this.cgroup !== null) void this.cgroup.killAll(1);
  }

  private async killRest(): Promise<void> {
    if (this.cgroup !== null) {
      await this.cgroup.killAll();
    } else if (HAS_PROC) {
      await killTree(this.pid, this.known);
    } else {
      try {
        process.kill(-this.pid, 'SIGKILL');
      } catch {
        // nothing left in the group
      }
    }
  }
}
