/**
 * The fallback memory limit where no memory cgroup can be created: every `intervalMs` one scan of
 * /proc finds each running attempt's process tree and sums its resident memory (VmRSS); a tree
 * over its limit is killed. One timer and one scan serve every attempt of the worker.
 *
 * It is a sampled limit, not the kernel's: a program that allocates very fast can overshoot for
 * up to one interval before it is killed. That is why a memory cgroup is preferred when there is
 * one (see cgroup.ts), and why the worker says at start-up which mechanism is in force.
 */
import { listProcs, rssBytes, treeMembers, type ProcInfo } from './proc.js';

export interface TreeWatch {
  /** The tree's leader: the agent's process, which leads its own process group. */
  readonly root: number;
  readonly limitBytes: number;
  /** Members seen so far, pid → start time: found again even after their parent died. */
  readonly known: Map<number, string>;
  peakBytes: number;
  onExceeded(usedBytes: number): void;
}

export class TreeSampler {
  private readonly watches = new Set<TreeWatch>();
  private timer: NodeJS.Timeout | null = null;
  private busy = false;

  constructor(private readonly intervalMs: number) {}

  watch(watch: TreeWatch): () => void {
    this.watches.add(watch);
    if (this.timer === null) {
      this.timer = setInterval(() => void this.tick(), this.intervalMs);
      this.timer.unref();
    }
    return () => {
      this.watches.delete(watch);
      if (this.watches.size === 0 && this.timer !== null) {
        clearInterval(this.timer);
        this.timer = null;
      }
    };
  }

  private async tick(): Promise<void> {
    if (this.busy || this.watches.size === 0) return;
    this.busy = true;
    try {
      const procs = await listProcs();
      await Promise.all([...this.watches].map((watch) => this.measure(watch, procs)));
    } finally {
      this.busy = false;
    }
  }

  private async measure(watch: TreeWatch, procs: readonly ProcInfo[]): Promise<void> {
    const members = treeMembers(procs, watch.root, watch.known);
    for (const member of members) watch.known.set(member.pid, member.startTime);
    const sizes = await Promise.all(members.map((m) => rssBytes(m.pid)));
    const used = sizes.reduce((a, b) => a + b, 0);
    watch.peakBytes = Math.max(watch.peakBytes, used);
    if (used > watch.limitBytes && this.watches.has(watch)) watch.onExceeded(used);
  }
}

/**
 * Kills a tree: its process group, its descendants and every known member. First it freezes the
 * tree (SIGSTOP) until a scan of /proc finds no new member, so that no process can fork a child
 * or lose its parent (and with it the trace that it belongs here) while the tree is being killed;
 * then SIGKILLs every member until /proc shows none alive, or `rounds` run out. True when nothing
 * is left.
 */
export async function killTree(root: number, known: Map<number, string>, rounds = 200): Promise<boolean> {
  const signal = (pid: number, sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      // gone meanwhile
    }
  };
  let seen = -1;
  for (let round = 0; round < 20; round++) {
    signal(-root, 'SIGSTOP');
    const members = treeMembers(await listProcs(), root, known);
    for (const member of members) {
      known.set(member.pid, member.startTime);
      signal(member.pid, 'SIGSTOP');
    }
    if (members.length === seen) break;
    seen = members.length;
  }
  for (let round = 0; round < rounds; round++) {
    signal(-root, 'SIGKILL');
    const members = treeMembers(await listProcs(), root, known);
    if (members.length === 0) return true;
    for (const member of members) signal(member.pid, 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return false;
}
