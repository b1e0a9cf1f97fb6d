/**
 * Warm (persistent) process agents: one program serves one task after another over the same
 * JSON-lines protocol, so a task no longer pays for starting node or python.
 *
 * A WarmProcess knows where one task's lines end (its `output` or `error` line) and hands each
 * task a SandboxedProcess of its own whose stdout and stderr carry that task's lines only: the
 * process runtime reads and judges them exactly as it does a one-shot program's. A process whose
 * task did not end cleanly (killed, aborted, a line after the terminal one, the program gone) is
 * never given another task. The pool keeps idle processes per key (owner and agent version: never
 * shared across owners), at most `maxProcesses` alive in all.
 */
import { PassThrough, Writable } from 'node:stream';
import { RuntimeError } from '../errors.js';
import { parseLine } from './protocol.js';
import type { SandboxedProcess, SandboxExit } from './types.js';

export const DEFAULT_MAX_TASKS_PER_PROCESS = 1000;
export const DEFAULT_IDLE_TIMEOUT_SECONDS = 60;
/** A warm process whose peak memory passed this share of memory_mb is replaced after its task. */
export const DEFAULT_RECYCLE_MEMORY_SHARE = 0.8;
/** Told to the program in its environment: read task messages until stdin ends. */
export const PERSISTENT_ENV = { SWARM_AGENT_MODE: 'persistent' } as const;

/** Why a warm process was stopped (kept for tests and the worker's log). */
export type RecycleReason =
  'max-tasks' | 'memory' | 'killed' | 'exited' | 'protocol' | 'idle' | 'evicted' | 'cleanup' | 'closed';

interface TaskChannel {
  readonly stdout: PassThrough;
  readonly stderr: PassThrough;
  /** Settles at the task's terminal line (a clean exit) or when the program is gone. */
  readonly done: Promise<SandboxExit>;
  finish(exit: SandboxExit): void;
}

const RECYCLED_KEPT = 100;

const CLEAN: SandboxExit = {
  code: 0,
  signal: null,
  memoryExceeded: false,
  killed: false,
  peakMemoryMb: null,
};

/** One warm program and the task it is serving, if any. */
export class WarmProcess {
  readonly id: string;
  tasks = 0;
  /** Set once the process must not take another task; it is on its way out. */
  retired: RecycleReason | null = null;
  private current: TaskChannel | null = null;
  private line: Buffer[] = [];
  private lineBytes = 0;
  private overLine = false;
  idleTimer: NodeJS.Timeout | null = null;
  readonly gone: Promise<void>;

  constructor(
    readonly key: string,
    private readonly proc: SandboxedProcess,
    private readonly maxLineBytes: number,
    /** Its working folder: emptied between tasks, removed when it is gone. */
    readonly workFolder: string,
    onGone: () => Promise<void>,
  ) {
    this.id = proc.id;
    proc.stdout.on('data', (chunk: Buffer) => this.onStdout(chunk));
    proc.stderr.on('data', (chunk: Buffer) => this.current?.stderr.write(chunk));
    this.gone = proc.exited.then(async (exit) => {
      this.retired ??= 'exited';
      const channel = this.current;
      this.current = null;
      channel?.finish(exit);
      await onGone();
    });
  }

  /**
   * A task's view of the process: stdout and stderr with this task's lines only, `exited` when
   * its terminal line came (or the program ended), and kill() that retires the process.
   */
  begin(): { proc: SandboxedProcess; done: Promise<SandboxExit> } {
    if (this.retired !== null || this.current !== null)
      throw new RuntimeError('INTERNAL', `warm process ${this.id} ended before its task began`, {
        retryable: true,
        status: 502,
      });
    let finish!: (exit: SandboxExit) => void;
    const done = new Promise<SandboxExit>((resolve) => (finish = resolve));
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    this.current = {
      stdout,
      stderr,
      done,
      finish: (exit) => {
        stdout.end();
        stderr.end();
        finish(exit);
      },
    };
    this.tasks++;
    const view: SandboxedProcess = {
      id: this.id,
      stdin: new Writable({ write: (_chunk, _encoding, callback) => callback() }),
      stdout,
      stderr,
      exited: done,
      kill: () => this.kill('killed'),
      ...(this.proc.peakMemoryMb === undefined ? {} : { peakMemoryMb: () => this.proc.peakMemoryMb!() }),
    };
    return { proc: view, done };
  }

  /** Hands the program the task message (one JSON line). */
  send(message: unknown): void {
    this.proc.stdin.write(`${JSON.stringify(message)}\n`);
  }

  peakMemoryMb(): Promise<number | null> {
    return this.proc.peakMemoryMb?.() ?? Promise.resolve(null);
  }

  /** Kills the program and everything it started; it takes no further task. */
  kill(reason: RecycleReason): void {
    this.retired ??= reason;
    this.proc.kill();
  }

  private onStdout(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length) {
      const channel = this.current;
      if (channel === null) {
        // Output with no task to belong to: the program and the runtime disagree on where a
        // task ends, and the next task's lines could not be told from these.
        if (chunk.subarray(start).toString('utf8').trim() !== '') this.kill('protocol');
        return;
      }
      const newline = chunk.indexOf(0x0a, start);
      const end = newline < 0 ? chunk.length : newline + 1;
      const piece = chunk.subarray(start, end);
      channel.stdout.write(piece);
      // The line is kept only up to the limit: the task's own reading fails a longer one.
      if (!this.overLine && this.lineBytes + piece.length <= this.maxLineBytes + 1) {
        this.line.push(Buffer.from(piece));
        this.lineBytes += piece.length;
      } else this.overLine = true;
      start = end;
      if (newline < 0) return;
      const text = this.overLine ? null : Buffer.concat(this.line, this.lineBytes).toString('utf8');
      this.line = [];
      this.lineBytes = 0;
      this.overLine = false;
      const type = text === null ? null : parseLine(text)?.type;
      if (type === 'output' || type === 'error') {
        this.current = null;
        channel.finish(CLEAN);
      }
    }
  }
}

export interface Recycled {
  readonly id: string;
  readonly key: string;
  readonly reason: RecycleReason;
  readonly tasks: number;
}

export interface WarmPoolOptions {
  /** Warm processes alive at once, all keys together (the worker's concurrency). */
  readonly maxProcesses: number;
  /** Told of every process gone, with why (the worker logs it). */
  readonly onGone?: (recycled: Recycled) => void;
}

/** Idle warm processes by key, bounded in all; idle ones exit after their idle timeout. */
export class WarmPool {
  private readonly idle = new Map<string, WarmProcess[]>();
  private readonly live = new Set<WarmProcess>();
  private starting = 0;
  private closed = false;
  /** The last processes gone, with why: for tests and for whoever inspects the pool. */
  readonly recycled: Recycled[] = [];

  constructor(private readonly options: WarmPoolOptions) {
    if (!(Number.isInteger(options.maxProcesses) && options.maxProcesses > 0))
      throw new RuntimeError('CONFIG_INVALID', 'warm pool: maxProcesses must be a positive integer');
  }

  get size(): number {
    return this.live.size;
  }

  /** An idle process for `key`, or a new one from `start` (making room by stopping an idle one). */
  async acquire(key: string, start: () => Promise<WarmProcess>): Promise<WarmProcess> {
    if (this.closed) throw new RuntimeError('INTERNAL', 'the warm process pool is closed');
    const list = this.idle.get(key) ?? [];
    while (list.length > 0) {
      const warm = list.pop()!;
      if (list.length === 0) this.idle.delete(key);
      if (warm.idleTimer !== null) clearTimeout(warm.idleTimer);
      warm.idleTimer = null;
      if (warm.retired === null) return warm;
    }
    // Processes still starting count too: concurrent acquires must not both think there is room.
    if (this.live.size + this.starting >= this.options.maxProcesses) this.evictOne();
    this.starting++;
    let warm: WarmProcess;
    try {
      warm = await start();
    } finally {
      this.starting--;
    }
    this.live.add(warm);
    void warm.gone.then(() => this.forget(warm));
    if (this.closed) {
      this.stop(warm, 'closed');
      throw new RuntimeError('INTERNAL', 'the warm process pool is closed');
    }
    return warm;
  }

  /** Back to the pool after a task that ended cleanly, or stopped (`reason`). */
  release(warm: WarmProcess, reason: RecycleReason | null, idleMs: number): void {
    if (reason !== null || warm.retired !== null || this.closed) {
      this.stop(warm, reason ?? warm.retired ?? 'closed');
      return;
    }
    const list = this.idle.get(warm.key) ?? [];
    list.push(warm);
    this.idle.set(warm.key, list);
    warm.idleTimer = setTimeout(() => {
      const at = list.indexOf(warm);
      if (at >= 0) list.splice(at, 1);
      if (list.length === 0 && this.idle.get(warm.key) === list) this.idle.delete(warm.key);
      this.stop(warm, 'idle');
    }, idleMs);
    warm.idleTimer.unref();
  }

  /** Stops every process and waits until all are gone; later acquires fail. */
  async close(): Promise<void> {
    this.closed = true;
    for (const list of this.idle.values()) for (const warm of list) this.stop(warm, 'closed');
    this.idle.clear();
    for (const warm of this.live) this.stop(warm, 'closed');
    await Promise.all([...this.live].map((warm) => warm.gone));
  }

  private stop(warm: WarmProcess, reason: RecycleReason): void {
    if (warm.idleTimer !== null) clearTimeout(warm.idleTimer);
    warm.idleTimer = null;
    warm.kill(reason);
  }

  /** An idle process, of whichever key has waited longest, makes room for a new one. */
  private evictOne(): void {
    let oldest: { key: string; list: WarmProcess[] } | null = null;
    for (const [key, list] of this.idle) if (list.length > 0) oldest ??= { key, list };
    if (oldest === null) return; // every live one is busy or on its way out
    const warm = oldest.list.shift()!;
    if (oldest.list.length === 0) this.idle.delete(oldest.key);
    this.stop(warm, 'evicted');
  }

  private forget(warm: WarmProcess): void {
    this.live.delete(warm);
    const recycled = { id: warm.id, key: warm.key, reason: warm.retired ?? 'exited', tasks: warm.tasks };
    this.recycled.push(recycled);
    if (this.recycled.length > RECYCLED_KEPT) this.recycled.shift();
    this.options.onGone?.(recycled);
    for (const [key, list] of this.idle) {
      const at = list.indexOf(warm);
      if (at < 0) continue;
      list.splice(at, 1);
      if (list.length === 0) this.idle.delete(key);
    }
    if (warm.idleTimer !== null) clearTimeout(warm.idleTimer);
  }
}
