/**
 * Reading Linux's /proc: which processes exist, their parent, process group and state, and how
 * much memory (RSS) they hold. Used to sample a process tree's memory where no memory cgroup is
 * available, and to make sure nothing an agent started is left behind.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';

export interface ProcInfo {
  readonly pid: number;
  readonly ppid: number;
  readonly pgid: number;
  /** R, S, D, Z (zombie: already dead, waiting to be reaped), T… */
  readonly state: string;
  /** Clock ticks since boot: with the pid, identifies a process (pids are reused). */
  readonly startTime: string;
}

export const HAS_PROC = existsSync('/proc/self/stat');

/** Parses /proc/<pid>/stat; the command name (field 2) may hold spaces and parentheses. */
export function parseStat(pid: number, text: string): ProcInfo | null {
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state); field n is rest[n - 3].
  const [state, ppid, pgid] = rest;
  const startTime = rest[19];
  if (state === undefined || ppid === undefined || pgid === undefined || startTime === undefined) return null;
  return { pid, ppid: Number(ppid), pgid: Number(pgid), state, startTime };
}

export async function readProc(pid: number): Promise<ProcInfo | null> {
  try {
    return parseStat(pid, await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null; // gone, or never was
  }
}

/** Every process visible in /proc. */
export async function listProcs(): Promise<ProcInfo[]> {
  let names: string[];
  try {
    names = await readdir('/proc');
  } catch {
    return [];
  }
  const pids = names.filter((n) => /^\d+$/.test(n)).map(Number);
  const infos = await Promise.all(pids.map(readProc));
  return infos.filter((p): p is ProcInfo => p !== null);
}

/** Resident memory of one process in bytes (0 when gone or a zombie). */
export async function rssBytes(pid: number): Promise<number> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match === null ? 0 : Number(match[1]) * 1024;
  } catch {
    return 0;
  }
}

/**
 * The processes of a tree: the process group `root` (a `detached` child leads its own group, whose
 * id is its pid), the already-known members (matched by pid and start time, so a reused pid is not
 * mistaken for one), and every descendant of those by parentage (which catches a process that left
 * the group while its parent lives).
 * Zombies are left out: they are dead and hold no memory.
 */
export function treeMembers(
  procs: readonly ProcInfo[],
  root: number,
  known: ReadonlyMap<number, string> = new Map(),
): ProcInfo[] {
  const children = new Map<number, ProcInfo[]>();
  for (const p of procs) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const members = new Map<number, ProcInfo>();
  const stack: ProcInfo[] = procs.filter((p) => p.pgid === root || known.get(p.pid) === p.startTime);
  while (stack.length > 0) {
    const p = stack.pop()!;
    if (members.has(p.pid)) continue;
    members.set(p.pid, p);
    stack.push(...(children.get(p.pid) ?? []));
  }
  return [...members.values()].filter((p) => p.state !== 'Z' && p.state !== 'X');
}

/** Whether a process is alive (a zombie is not). For tests and the "nothing left" check. */
export async function isAlive(pid: number): Promise<boolean> {
  const info = await readProc(pid);
  return info !== null && info.state !== 'Z' && info.state !== 'X';
}
