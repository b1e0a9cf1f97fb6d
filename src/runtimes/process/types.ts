/**
 * The Sandbox interface: where a local agent program runs. The process runtime decides *what* to
 * run (which agent, which folder, which granted variables, which limits) and speaks the
 * stdin/stdout protocol; a Sandbox decides *how*: a resource-limited child process today
 * (ProcessSandbox), a container or a microVM later. The request is therefore written in terms of
 * the agent (its kind, its folder, its entry), not of host commands: a container sandbox picks
 * its own image and interpreter, mounts `agentFolder` read-only and `workFolder` read-write, and
 * enforces `permissions` (network) that a plain process cannot.
 */
import type { Readable, Writable } from 'node:stream';

export type ProgramKind = 'node' | 'python' | 'binary';

export interface SandboxRequest {
  readonly kind: ProgramKind;
  /** The agent's code folder on the worker's machine (real path, symlinks resolved). */
  readonly agentFolder: string;
  /** The program to run, relative to `agentFolder`; checked to stay inside it. */
  readonly entry: string;
  /** Arguments after the entry, from the manifest; passed as an array, never through a shell. */
  readonly args: readonly string[];
  /** A fresh, empty folder for this attempt: the agent's working folder, HOME and TMPDIR. */
  readonly workFolder: string;
  /**
   * Exactly the variables the agent is granted (its secrets). The sandbox adds only PATH, HOME,
   * TMPDIR and LANG, which win over a granted variable of the same name; nothing else reaches the
   * program.
   */
  readonly env: Readonly<Record<string, string>>;
  /** resources.memory_mb: a hard limit on everything the program starts. */
  readonly memoryMb: number;
  /** The agent's permissions, for sandboxes that can enforce them (network, file system). */
  readonly permissions: readonly string[];
  /** Written to the program's stdin, which is then closed (unless `keepStdinOpen`). */
  readonly stdin: string;
  /**
   * Leave stdin open after `stdin` is written, for a program that reads messages for as long as it
   * runs (an MCP server over stdio): the caller writes to `SandboxedProcess.stdin`.
   */
  readonly keepStdinOpen?: boolean;
  /** A label for the sandbox's own bookkeeping (cgroup names, container names). */
  readonly label: string;
  /**
   * A folder the program must not see (SWARM_HOME, real path): a sandbox that can, hides it,
   * keeping `workFolder` (and `agentFolder`) inside it visible.
   */
  readonly hide?: string;
}

export interface SandboxExit {
  /** The program's exit code, or null when a signal ended it. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** The memory limit ended the program or something it started. */
  readonly memoryExceeded: boolean;
  /** `kill()` was called before the program ended on its own. */
  readonly killed: boolean;
  /** The most memory the whole tree was seen to use, in MB, when the sandbox can tell. */
  readonly peakMemoryMb: number | null;
}

export interface SandboxedProcess {
  /** For logs: a pid, a container id… */
  readonly id: string;
  /** Already ended unless the request asked for `keepStdinOpen`. */
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  /**
   * Settles (never rejects) once the program AND everything it started are gone, its output
   * streams have ended and the sandbox's resources (cgroup, container) are released. When the
   * program exits on its own, whatever it left running is killed then.
   */
  readonly exited: Promise<SandboxExit>;
  /** Kills the program and everything it started, at once. Idempotent; `exited` then settles. */
  kill(): void;
  /**
   * The most memory the tree has used so far, in MB, when the sandbox can tell: a warm
   * (persistent) process is replaced when it grows too close to its limit.
   */
  peakMemoryMb?(): Promise<number | null>;
}

export interface Sandbox {
  /** One line for the start-up log: how isolation and limits are enforced here. */
  describe(): string;
  /**
   * Whether programs are kept from the worker's files, /proc and other attempts (another user,
   * own namespaces, a container). Absent or false: they can read what the worker can.
   */
  readonly isolated?: boolean;
  /** Starts the program; rejects (RuntimeError) only when it cannot be started at all. */
  start(request: SandboxRequest): Promise<SandboxedProcess>;
}
