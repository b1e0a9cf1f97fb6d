/**
 * What an agent's code can see: the isolation a worker puts each attempt of a node, python or
 * binary agent in, chosen once at start-up (detectIsolation) and said in the worker's log.
 *
 * `namespaces` (the worker is root and util-linux's unshare, setpriv and mount work): each
 * attempt runs
 * - in new mount and PID namespaces (`unshare --mount --pid --fork --mount-proc`): a fresh /proc
 *   that shows the attempt's own processes only, so the worker's /proc/<pid>/environ and every
 *   other process are invisible;
 * - with SWARM_HOME covered by an empty tmpfs in its mount namespace (keys, credentials, the
 *   SQLite files, artifacts and every other attempt's working folder disappear), its own working
 *   folder (and its code folder, when that lies in SWARM_HOME) bound back in at the same path;
 * - as an unprivileged uid/gid (`setpriv --reuid --regid --clear-groups --no-new-privs`, all
 *   capabilities dropped), which the worker's 0600/0700 files refuse on top of that.
 *
 * The mounts are made, as root, by a constant script run by dash (or /bin/sh): the folders and
 * the command are positional parameters, never parsed. The command after the script is an argument
 * array: env(1) (removing what the shell itself added), then setpriv, then the agent's program.
 *
 * `none`: the worker is not root, or a tool is missing, or the probe failed: the program runs as
 * the worker's user and can read what that user can. ProcessRuntime then refuses agents whose
 * owner is not an admin unless SWARM_ALLOW_UNISOLATED_AGENTS=true.
 */
import { execFileSync } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  chownSync,
  constants,
  mkdirSync,
  mkdtempSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** `auto`: namespaces where the host allows them; `namespaces`: required; `none`: never. */
export type IsolationMode = 'auto' | 'namespaces' | 'none';

export interface IsolationOptions {
  /** @default 'auto' */
  readonly mode?: IsolationMode;
  /** The uid agents run as. @default 65534 (nobody) */
  readonly uid?: number;
  /** The gid agents run as. @default 65534 (nogroup) */
  readonly gid?: number;
}

export interface IsolationTools {
  readonly shell: string;
  readonly unshare: string;
  readonly setpriv: string;
  readonly mount: string;
  readonly env: string;
}

export type Isolation =
  | {
      readonly kind: 'namespaces';
      readonly uid: number;
      readonly gid: number;
      readonly tools: IsolationTools;
    }
  | { readonly kind: 'none'; readonly reason: string };

export const DEFAULT_AGENT_UID = 65534;
export const DEFAULT_AGENT_GID = 65534;

/** The exit status of the isolation script when it could not set the attempt's view up. */
export const ISOLATION_FAILED = 126;

/**
 * Run as root inside the new namespaces. $1: the folder to cover (SWARM_HOME; empty: none),
 * $2: the attempt's working folder, $3: the agent's code folder, $4: mount(8); then the command.
 * The folders are opened before the cover hides them and bound back from /proc/self/fd (a
 * magic link to the folder itself, hence --no-canonicalize).
 */
export const ISOLATION_SCRIPT = [
  // Folders made under the cover must be searchable by the agent, whatever the worker's umask.
  'umask 022',
  'exec 3<"$2" 4<"$3" || exit 126',
  'if [ -n "$1" ]; then "$4" -t tmpfs -o mode=0711,size=64k,nosuid,nodev,noexec swarm-hidden "$1" || exit 126; fi',
  '/bin/mkdir -p "$2" && "$4" --no-canonicalize --bind /proc/self/fd/3 "$2" || exit 126',
  'case "$3" in "$1"/*) /bin/mkdir -p "$3" && "$4" --no-canonicalize --bind /proc/self/fd/4 "$3" || exit 126;; esac',
  'exec 3<&- 4<&-',
  'cd "$2" || exit 126',
  'shift 4',
  'exec "$@"',
].join('\n');

/**
 * Variables that steer the dynamic loader, libc, util-linux or a shell (LD_PRELOAD, GCONV_PATH,
 * BASH_ENV, exported bash functions…): the mounts are made by root programs that inherit the
 * agent's environment, so a granted secret with such a name would run code as root. They are
 * never passed when isolation is in force (glibc's own list for setuid programs, and more).
 */
const UNSAFE_NAMES = new Set([
  'BASH_ENV',
  'ENV',
  'SHELLOPTS',
  'BASHOPTS',
  'POSIXLY_CORRECT',
  'PS4',
  'IFS',
  'CDPATH',
  'GCONV_PATH',
  'GETCONF_DIR',
  'GLIBC_TUNABLES',
  'HOSTALIASES',
  'LOCALDOMAIN',
  'LOCPATH',
  'NIS_PATH',
  'NLSPATH',
  'RESOLV_HOST_CONF',
  'RES_OPTIONS',
  'TZ',
  'TZDIR',
  'LANGUAGE',
]);
const UNSAFE_PREFIXES = ['LD_', 'MALLOC_', 'LIBMOUNT_', 'LIBBLKID_', 'LIBSMARTCOLS_', 'LC_', 'BASH_FUNC_'];

export function unsafeForRoot(name: string): boolean {
  return UNSAFE_NAMES.has(name) || UNSAFE_PREFIXES.some((prefix) => name.startsWith(prefix));
}

export interface AttemptView {
  /** Covered by an empty tmpfs: SWARM_HOME. Empty: nothing covered. */
  readonly hide: string;
  /** The attempt's working folder, writable by the agent uid. */
  readonly work: string;
  /** The agent's code folder. */
  readonly agent: string;
}

/** The command that runs `program args` isolated, as an argument array. */
export function isolatedCommand(
  isolation: Extract<Isolation, { kind: 'namespaces' }>,
  view: AttemptView,
  program: string,
  args: readonly string[],
): [string, string[]] {
  const { tools, uid, gid } = isolation;
  return [
    tools.unshare,
    [
      '--mount',
      '--pid',
      '--fork',
      '--kill-child',
      '--mount-proc',
      '--propagation',
      'private',
      '--',
      tools.shell,
      '-c',
      ISOLATION_SCRIPT,
      'swarm-isolate',
      view.hide,
      view.work,
      view.agent,
      tools.mount,
      // The shell adds PWD (bash also SHLVL and _): taken out so the program sees its env exactly.
      tools.env,
      '-u',
      'PWD',
      '-u',
      'OLDPWD',
      '-u',
      'SHLVL',
      '-u',
      '_',
      tools.setpriv,
      `--reuid=${uid}`,
      `--regid=${gid}`,
      '--clear-groups',
      '--no-new-privs',
      '--inh-caps=-all',
      '--bounding-set=-all',
      '--',
      program,
      ...args,
    ],
  ];
}

const TOOL_DIRS = ['/usr/bin', '/bin', '/usr/sbin', '/sbin'];

function findTool(name: string): string | null {
  for (const dir of TOOL_DIRS) {
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

const cache = new Map<string, Isolation>();

/**
 * The isolation this host allows, probed once per process (and uid/gid/mode): the real command
 * is run with `node` on a throw-away SWARM_HOME, and namespaces are used only if the program ran
 * as the agent uid, saw exactly its environment, could write its working folder, and could not
 * see the covered folder or the worker's /proc entry.
 */
export function detectIsolation(node: string, options: IsolationOptions = {}): Isolation {
  const mode = options.mode ?? 'auto';
  const uid = options.uid ?? DEFAULT_AGENT_UID;
  const gid = options.gid ?? DEFAULT_AGENT_GID;
  const key = `${mode}:${uid}:${gid}:${node}`;
  const known = cache.get(key);
  if (known !== undefined) return known;
  const found =
    mode === 'none'
      ? { kind: 'none' as const, reason: 'turned off (SWARM_AGENT_ISOLATION=none)' }
      : probe(node, uid, gid);
  cache.set(key, found);
  return found;
}

function probe(node: string, uid: number, gid: number): Isolation {
  const none = (reason: string): Isolation => ({ kind: 'none', reason });
  if (process.platform !== 'linux') return none('not Linux');
  const self = process.getuid?.();
  if (self !== 0)
    return none(`the worker is not root (uid ${self ?? '?'}), so it cannot run agents as another user`);
  if (uid === 0 || gid === 0) return none('SWARM_AGENT_UID/SWARM_AGENT_GID must not be 0');
  const shell =
    ['/bin/dash', '/bin/sh'].find((s) => findTool(path.basename(s)) !== null && canRun(s)) ?? null;
  const tools = {
    shell,
    unshare: findTool('unshare'),
    setpriv: findTool('setpriv'),
    mount: findTool('mount'),
    env: findTool('env'),
  };
  const missing = Object.entries(tools)
    .filter(([, v]) => v === null)
    .map(([k]) => k);
  if (missing.length > 0) return none(`missing ${missing.join(', ')} (util-linux, coreutils)`);
  const isolation = { kind: 'namespaces' as const, uid, gid, tools: tools as IsolationTools };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'swarm-isolation-probe-'));
  try {
    const home = path.join(dir, 'home');
    const work = path.join(home, 'work', 'attempt');
    mkdirSync(work, { recursive: true, mode: 0o700 });
    chmodSync(home, 0o700);
    writeFileSync(path.join(home, 'secret'), 'x', { mode: 0o600 });
    chownSync(work, uid, gid);
    const script = [
      'const fs = require("fs");',
      'const code = (f) => { try { fs.readFileSync(f); return "read"; } catch (e) { return e.code; } };',
      'fs.writeFileSync("written", "x");',
      `process.stdout.write(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), env: Object.keys(process.env), secret: code(${JSON.stringify(path.join(home, 'secret'))}), environ: code("/proc/${process.pid}/environ") }));`,
    ].join('\n');
    const [command, args] = isolatedCommand(isolation, { hide: home, work, agent: dir }, node, [
      '-e',
      script,
    ]);
    let out: string;
    try {
      out = execFileSync(command, args, {
        cwd: work,
        env: { SWARM_PROBE: '1' },
        timeout: 15_000,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (error) {
      const stderr =
        String((error as { stderr?: unknown }).stderr ?? '')
          .trim()
          .split('\n')[0] ?? '';
      return none(`unshare/setpriv did not run a program here: ${stderr || (error as Error).message}`);
    }
    const seen = JSON.parse(out) as {
      uid: number;
      gid: number;
      env: string[];
      secret: string;
      environ: string;
    };
    const problems = [
      seen.uid !== uid || seen.gid !== gid ? `ran as ${seen.uid}:${seen.gid}` : null,
      seen.env.join() !== 'SWARM_PROBE' ? `saw the variables ${seen.env.join(', ')}` : null,
      seen.secret === 'read' ? 'could read the covered folder' : null,
      seen.environ === 'read' ? "could read the worker's environment" : null,
    ].filter((p) => p !== null);
    if (problems.length > 0) return none(`the probe ${problems.join('; ')}`);
    return isolation;
  } catch (error) {
    return none(`the probe failed: ${(error as Error).message}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function canRun(shell: string): boolean {
  try {
    execFileSync(shell, ['-c', 'exit 0'], { env: {}, timeout: 5000, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** One line for the start-up log. */
export function describeIsolation(isolation: Isolation): string {
  return isolation.kind === 'namespaces'
    ? `isolation: namespaces (own mount and PID namespaces, SWARM_HOME hidden, uid ${isolation.uid}, gid ${isolation.gid})`
    : `isolation: none (${isolation.reason}); agents can read what the worker's user can`;
}
