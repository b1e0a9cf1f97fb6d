/**
 * The process runtime: node, python and binary agents, run by a Sandbox.
 *
 * One attempt: find the agent's code (the folder recorded at registration, checked again now),
 * check the input against input_schema, make a fresh working folder, start the program with one
 * JSON message on stdin (`input` and a `context`), read JSON lines from stdout and lines of
 * stderr as they come, and when the program and everything it started are gone, judge: the
 * memory limit, the output bounds, an `error` line, the exit code, exactly one `output` line,
 * and the output against output_schema. The working folder is removed in every case.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, chmod, mkdir, readdir, realpath, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { FieldIssue } from '../../errors/index.js';
import { Redactor } from '../../secrets/index.js';
import { RuntimeError } from '../errors.js';
import type { AgentInvocation, AgentReport, InvokedAgent, Runtime, RuntimeContext } from '../types.js';
import { LineSplitter } from './lines.js';
import { parseLine, type AgentLine } from './protocol.js';
import { ProcessSandbox } from './sandbox.js';
import type { ProgramKind, Sandbox, SandboxedProcess, SandboxExit } from './types.js';
import {
  DEFAULT_IDLE_TIMEOUT_SECONDS,
  DEFAULT_MAX_TASKS_PER_PROCESS,
  DEFAULT_RECYCLE_MEMORY_SHARE,
  PERSISTENT_ENV,
  WarmPool,
  WarmProcess,
  type RecycleReason,
} from './warm.js';

export const PROCESS_KINDS: readonly ProgramKind[] = ['node', 'python', 'binary'];

export interface ProcessLimits {
  /** All of stdout together (SWARM_AGENT_OUTPUT_MAX). @default 256 MiB */
  readonly stdoutBytes: number;
  /**
   * One stdout line (the output line included). Its pieces are kept as they come and joined
   * once, at its newline. @default 256 MiB, as much as all of stdout: an output of 50 MB is one line
   */
  readonly lineBytes: number;
  /** Stderr written to the log; the rest is read and dropped (never fatal). @default 1 MiB */
  readonly stderrLogBytes: number;
}

export const DEFAULT_PROCESS_LIMITS: ProcessLimits = {
  stdoutBytes: 256 * 1024 * 1024,
  lineBytes: 256 * 1024 * 1024,
  stderrLogBytes: 1024 * 1024,
};

export interface ProcessRuntimeOptions {
  /** SWARM_HOME: attempts' working folders are made in `<home>/work/`. */
  readonly home: string;
  /** @default a ProcessSandbox with its defaults */
  readonly sandbox?: Sandbox;
  readonly limits?: Partial<ProcessLimits>;
  /**
   * When the sandbox cannot isolate programs: whose agents may still run. Without it, every
   * owner's (a library default; the worker always sets it).
   */
  readonly unisolated?: {
    /** SWARM_ALLOW_UNISOLATED_AGENTS: every owner's agents run anyway. */
    readonly allow: boolean;
    /** Whether an owner is trusted with the worker's files (an admin). */
    trusted(ownerId: string): Promise<boolean>;
  };
  /** Warm processes of `mode: persistent` agents. */
  readonly warm?: {
    /** Alive at once, all agents and owners together: the worker's concurrency. @default 4 */
    readonly maxProcesses?: number;
    /** Replaced after a task that left its peak memory above this share of memory_mb. @default 0.8 */
    readonly recycleMemoryShare?: number;
    /** Told of every warm process gone: its agent, why, after how many tasks. */
    readonly onStopped?: (stopped: WarmStopped) => void;
  };
}

/** Where the process runtime's failures come from, for one place to pick code and status. */
function agentFailed(
  message: string,
  options: { retryable: boolean; issues?: FieldIssue[]; context?: Record<string, unknown> },
): RuntimeError {
  // 502: the agent, not Swarm, failed. INTERNAL until an agent-failure code joins ERROR_CODES.
  return new RuntimeError('INTERNAL', message, { status: 502, ...options });
}

export class ProcessRuntime implements Runtime {
  readonly sandbox: Sandbox;
  private readonly home: string;
  private readonly limits: ProcessLimits;
  private readonly unisolated: ProcessRuntimeOptions['unisolated'];
  /** Warm processes of persistent agents, per owner and agent version. */
  readonly warm: WarmPool;
  private readonly recycleMemoryShare: number;

  constructor(options: ProcessRuntimeOptions) {
    this.home = path.resolve(options.home);
    this.sandbox = options.sandbox ?? new ProcessSandbox();
    this.unisolated = options.unisolated;
    this.limits = { ...DEFAULT_PROCESS_LIMITS, ...options.limits };
    const onStopped = options.warm?.onStopped;
    this.warm = new WarmPool({
      maxProcesses: options.warm?.maxProcesses ?? 4,
      ...(onStopped === undefined
        ? {}
        : {
            onGone: ({ id, key, reason, tasks }) => {
              // The key's head: owner, agent name, version (see executeWarm).
              const [ownerId, name, version] = JSON.parse(key) as [string, string, string];
              onStopped({ id, ownerId, agent: `${name}@${version}`, reason, tasks });
            },
          }),
    });
    this.recycleMemoryShare = options.warm?.recycleMemoryShare ?? DEFAULT_RECYCLE_MEMORY_SHARE;
    for (const [key, value] of Object.entries(this.limits)) {
      if (!(Number.isInteger(value) && value > 0))
        throw new RuntimeError('CONFIG_INVALID', `process limits: ${key} must be a positive integer`);
    }
  }

  async execute(invocation: AgentInvocation, context: RuntimeContext): Promise<unknown> {
    const { agent } = invocation;
    const kind = agent.runtime.type as ProgramKind;
    if (!PROCESS_KINDS.includes(kind)) {
      throw new RuntimeError('INTERNAL', `the process runtime cannot run a ${agent.runtime.type} agent`);
    }
    context.signal.throwIfAborted();
    const program = await locate(agent);
    await this.mayRun(invocation);
    const permissions = agent.permissions ?? [];
    const secrets = grantedSecrets(permissions, context.secrets ?? {});
    const memoryMb = agent.memoryMb ?? 128;
    const message = {
      input: invocation.input ?? null,
      context: {
        task_id: invocation.taskId,
        run_id: invocation.runId,
        step_id: invocation.stepId,
        attempt: invocation.attempt,
        // The same for every attempt of this step and item, and for a fork's replay of it.
        idempotency_key: invocation.idempotencyKey,
        agent: { name: agent.name, version: agent.version },
        memory_mb: memoryMb,
        secrets,
      },
    };
    if (agent.runtime.mode === 'persistent') {
      const start = { kind, program, permissions, memoryMb };
      return this.executeWarm(invocation, context, start, secrets, message);
    }
    const work = await this.workFolder(`${invocation.taskId}-${invocation.attempt}`);
    try {
      const proc = await this.sandbox.start({
        kind,
        agentFolder: program.folder,
        entry: program.entry,
        args: program.args,
        workFolder: work,
        env: secrets,
        memoryMb,
        permissions,
        stdin: `${JSON.stringify(message)}\n`,
        label: `${invocation.taskId}-${invocation.attempt}`,
        hide: await realpath(this.home),
      });
      const session = new Session(proc, invocation, context, secrets, this.limits);
      const onAbort = () => proc.kill();
      context.signal.addEventListener('abort', onAbort, { once: true });
      if (context.signal.aborted) proc.kill();
      let exit: SandboxExit;
      try {
        exit = await proc.exited;
        await session.finished();
      } finally {
        context.signal.removeEventListener('abort', onAbort);
      }
      if (context.signal.aborted) throw context.signal.reason as Error;
      return session.judge(exit, kind, memoryMb);
    } finally {
      await removeFolder(work, context);
    }
  }

  /**
   * Without isolation an agent reads what the worker can (keys, credentials, every owner's
   * data): only admins' agents run then, unless SWARM_ALLOW_UNISOLATED_AGENTS says otherwise.
   */
  private async mayRun(invocation: AgentInvocation): Promise<void> {
    const policy = this.unisolated;
    if (this.sandbox.isolated === true || policy === undefined || policy.allow) return;
    if (await policy.trusted(invocation.ownerId)) return;
    throw new RuntimeError(
      'FORBIDDEN',
      `this worker cannot isolate agent code (see its start-up log), so it runs node, python and binary agents of admins only; an admin may set SWARM_ALLOW_UNISOLATED_AGENTS=true to run everyone's, which lets them read the worker's files`,
      { retryable: false, status: 403 },
    );
  }

  /**
   * One task of a persistent agent, on a warm process of this owner and agent version. The task's
   * lines are read and judged as a one-shot program's are; the process goes back to the pool only
   * when its task ended with its terminal line, and is replaced otherwise (see warm.ts).
   */
  private async executeWarm(
    invocation: AgentInvocation,
    context: RuntimeContext,
    start: WarmStart,
    secrets: Readonly<Record<string, string>>,
    message: { input: unknown; context: Record<string, unknown> },
  ): Promise<unknown> {
    const { agent } = invocation;
    const { program, kind, memoryMb } = start;
    // Never shared across owners; the code and the limits are part of the key, not just the name.
    const key = JSON.stringify([
      invocation.ownerId,
      agent.name,
      agent.version,
      kind,
      program.folder,
      program.entry,
      program.args,
      memoryMb,
    ]);
    const warm = await this.warm.acquire(key, () => this.startWarm(key, start));
    const idleSeconds = positiveInteger(agent.runtime.idle_timeout_seconds) ?? DEFAULT_IDLE_TIMEOUT_SECONDS;
    const maxTasks = positiveInteger(agent.runtime.max_tasks_per_process) ?? DEFAULT_MAX_TASKS_PER_PROCESS;
    try {
      const task = warm.begin();
      const session = new Session(task.proc, invocation, context, secrets, this.limits);
      // A task that is aborted (timeout, cancellation, lost lease) takes its process with it.
      const onAbort = () => warm.kill('killed');
      context.signal.addEventListener('abort', onAbort, { once: true });
      let exit: SandboxExit;
      try {
        if (context.signal.aborted) warm.kill('killed');
        else warm.send({ type: 'task', ...message });
        exit = await task.done;
        await session.finished();
      } finally {
        context.signal.removeEventListener('abort', onAbort);
      }
      if (warm.retired !== null) await warm.gone;
      if (context.signal.aborted) throw context.signal.reason as Error;
      return session.judge(exit, kind, memoryMb);
    } finally {
      let reason: RecycleReason | null = warm.retired;
      if (reason === null && warm.tasks >= maxTasks) reason = 'max-tasks';
      if (reason === null) {
        const peak = await warm.peakMemoryMb();
        if (peak !== null && peak > memoryMb * this.recycleMemoryShare) reason = 'memory';
      }
      // The next task starts in an empty working folder, as a one-shot attempt does.
      if (reason === null && !(await emptyFolder(warm.workFolder))) reason = 'cleanup';
      this.warm.release(warm, reason, idleSeconds * 1000);
    }
  }

  private async startWarm(key: string, start: WarmStart): Promise<WarmProcess> {
    const label = `warm-${randomBytes(4).toString('hex')}`;
    const work = await this.workFolder(label);
    try {
      const proc = await this.sandbox.start({
        kind: start.kind,
        agentFolder: start.program.folder,
        entry: start.program.entry,
        args: start.program.args,
        workFolder: work,
        // Secrets travel in each task's message only: a process serves many tasks.
        env: { ...PERSISTENT_ENV },
        memoryMb: start.memoryMb,
        permissions: start.permissions,
        stdin: '',
        keepStdinOpen: true,
        label,
        hide: await realpath(this.home),
      });
      return new WarmProcess(key, proc, this.limits.lineBytes, work, () => removeFolder(work, null));
    } catch (error) {
      await removeFolder(work, null);
      throw error;
    }
  }

  /** Stops every warm process (the worker stops) and waits until they are gone. */
  async close(): Promise<void> {
    await this.warm.close();
  }

  private async workFolder(label: string): Promise<string> {
    // The real path: the sandbox hides SWARM_HOME and binds this folder back by that path.
    await mkdir(this.home, { recursive: true, mode: 0o700 });
    const root = path.join(await realpath(this.home), 'work');
    await mkdir(root, { recursive: true, mode: 0o700 });
    const name = label.replace(/[^A-Za-z0-9_.-]/g, '_');
    const folder = path.join(root, `${name}-${randomBytes(3).toString('hex')}`);
    await mkdir(folder, { mode: 0o700 });
    return folder;
  }
}

/** A warm process gone, for the worker's log. */
export interface WarmStopped {
  readonly id: string;
  readonly ownerId: string;
  readonly agent: string;
  readonly reason: RecycleReason;
  readonly tasks: number;
}

interface WarmStart {
  readonly kind: ProgramKind;
  readonly program: { folder: string; entry: string; args: string[] };
  readonly permissions: readonly string[];
  readonly memoryMb: number;
}

const positiveInteger = (value: unknown): number | null =>
  typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : null;

/** Empties a warm process's working folder between tasks; false when something stayed. */
async function emptyFolder(folder: string): Promise<boolean> {
  try {
    const entries = await readdir(folder);
    if (entries.length === 0) return true;
    await Promise.all(
      entries.map((name) => rm(path.join(folder, name), { recursive: true, force: true, maxRetries: 2 })),
    );
    return (await readdir(folder)).length === 0;
  } catch {
    return false;
  }
}

/** The granted secrets: names the agent's `secret:NAME` permissions list, and only those. */
export function grantedSecrets(
  permissions: readonly string[],
  secrets: Readonly<Record<string, string>>,
): Record<string, string> {
  const granted: Record<string, string> = {};
  for (const permission of permissions) {
    if (!permission.startsWith('secret:')) continue;
    const name = permission.slice('secret:'.length);
    const value = Object.hasOwn(secrets, name) ? secrets[name] : undefined;
    if (typeof value === 'string') granted[name] = value;
  }
  return granted;
}

/**
 * The agent's program, found again at run time: the folder recorded at registration must exist
 * on this worker, and the entry must still be a regular file inside it once symlinks are
 * resolved (the folder may have changed since it was registered).
 */
async function locate(agent: InvokedAgent): Promise<{ folder: string; entry: string; args: string[] }> {
  const who = `agent ${agent.name}@${agent.version}`;
  const entry = agent.runtime.entry;
  if (typeof entry !== 'string' || entry === '') {
    throw agentFailed(`${who} has no runtime.entry`, { retryable: false });
  }
  const rawArgs = agent.runtime.args;
  const args = Array.isArray(rawArgs) ? rawArgs.filter((a): a is string => typeof a === 'string') : [];
  const folder = agent.folder;
  if (typeof folder !== 'string' || !path.isAbsolute(folder)) {
    throw agentFailed(
      `${who} was registered without its code folder, so no worker knows where ${entry} is; register it from its folder (swarm agent register <folder>)`,
      { retryable: false },
    );
  }
  let realFolder: string;
  try {
    realFolder = await realpath(folder);
  } catch {
    throw agentFailed(`${who}: its code folder ${folder} does not exist on this worker`, {
      retryable: false,
    });
  }
  let realEntry: string;
  try {
    realEntry = await realpath(path.join(realFolder, entry));
  } catch {
    throw agentFailed(`${who}: ${entry} is missing from ${folder}`, { retryable: false });
  }
  const relative = path.relative(realFolder, realEntry);
  if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) {
    throw agentFailed(`${who}: ${entry} resolves outside its folder ${folder}`, { retryable: false });
  }
  const info = await stat(realEntry);
  if (!info.isFile()) throw agentFailed(`${who}: ${entry} is not a regular file`, { retryable: false });
  if (agent.runtime.type === 'binary') {
    await access(realEntry, constants.X_OK).catch(() => {
      throw agentFailed(`${who}: ${entry} is not executable`, { retryable: false });
    });
  }
  return { folder: realFolder, entry: relative, args };
}

/** Removes a working folder, making unreadable folders the agent left readable first. */
async function removeFolder(folder: string, context: Pick<RuntimeContext, 'log'> | null): Promise<void> {
  try {
    await rm(folder, { recursive: true, force: true, maxRetries: 2 });
  } catch {
    try {
      await makeWritable(folder);
      await rm(folder, { recursive: true, force: true });
    } catch (error) {
      context?.log('warning', `could not remove the working folder ${folder}`, {
        error: (error as Error).message,
      });
    }
  }
}

async function makeWritable(folder: string): Promise<void> {
  await chmod(folder, 0o700);
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    if (entry.isDirectory() && !entry.isSymbolicLink()) await makeWritable(path.join(folder, entry.name));
  }
}

const STDERR_LINE_CHARS = 8192;
const TAIL_CHARS = 4096;

/** One attempt's reading of stdout and stderr, and the verdict at the end. */
class Session {
  private readonly stdout: LineSplitter;
  private readonly redactor: Redactor;
  private outputs: unknown[] = [];
  private error: Extract<AgentLine, { type: 'error' }> | null = null;
  private failure: RuntimeError | null = null;
  private invalid: string[] = [];
  private events = 0;
  private publishing: Promise<void> = Promise.resolve();
  private stderrLogged = 0;
  private stderrDropped = false;
  private stderrTail = '';
  private stderrPartial = '';
  private readonly stdoutEnded: Promise<void>;
  private readonly stderrEnded: Promise<void>;
  private usage = { tokens: 0, cost: 0, reports: 0 };

  constructor(
    private readonly proc: SandboxedProcess,
    private readonly invocation: AgentInvocation,
    private readonly context: RuntimeContext,
    secrets: Readonly<Record<string, string>>,
    private readonly limits: ProcessLimits,
  ) {
    this.stdout = new LineSplitter(limits.lineBytes, limits.stdoutBytes);
    // The same Redactor the worker applies to everything an attempt produces: the granted
    // values in all their forms, `[REDACTED:<NAME>]`, values under MIN_REDACTED_LENGTH kept.
    this.redactor = new Redactor(secrets);
    this.stdoutEnded = new Promise((resolve) => {
      proc.stdout.on('data', (chunk: Buffer) => this.onStdout(chunk));
      proc.stdout.once('close', () => resolve());
      proc.stdout.once('end', () => {
        const last = this.stdout.end();
        if (last !== null) this.onLine(last);
      });
    });
    const decoder = new StringDecoder('utf8');
    this.stderrEnded = new Promise((resolve) => {
      proc.stderr.on('data', (chunk: Buffer) => this.onStderr(decoder.write(chunk)));
      proc.stderr.once('close', () => resolve());
      proc.stderr.once('end', () => this.onStderr(`${decoder.end()}\n`));
    });
  }

  /** Both streams have ended and every event line is published. */
  async finished(): Promise<void> {
    await Promise.all([this.stdoutEnded, this.stderrEnded]);
    if (this.stderrPartial !== '') this.onStderr('\n');
    await this.publishing;
  }

  private fail(error: RuntimeError): void {
    this.failure ??= error;
    this.proc.kill();
  }

  private onStdout(chunk: Buffer): void {
    if (this.failure !== null) return; // drained, not read
    const { lines, tooLarge } = this.stdout.push(chunk);
    for (const line of lines) this.onLine(line);
    if (tooLarge !== null) {
      this.fail(
        agentFailed(`output too large: ${tooLarge} (SWARM_AGENT_OUTPUT_MAX)`, {
          retryable: false,
        }),
      );
    }
  }

  private onLine(text: string): void {
    if (this.failure !== null) return;
    const line = parseLine(text);
    if (line === null) return;
    const { context } = this;
    switch (line.type) {
      case 'text': {
        const why = line.why === null ? null : this.redact(line.why);
        if (why !== null) this.invalid.push(why);
        context.log(why === null ? 'info' : 'warning', this.redact(line.text), {
          stream: 'stdout',
          ...(why === null ? {} : { protocol_error: why }),
        });
        return;
      }
      case 'log':
        context.log(line.level, this.redact(line.message), {
          ...(line.data === null ? {} : (this.redactJson(line.data) as Record<string, unknown>)),
          stream: 'agent',
        });
        return;
      case 'event':
        this.onEvent(line);
        return;
      case 'message':
        this.reportItem(
          { kind: 'message', to: line.to, messageType: line.messageType, content: line.content },
          `message${line.to === null ? '' : ` to ${line.to}`}`,
          { to: line.to, message_type: line.messageType, content: line.content },
        );
        return;
      case 'usage':
        this.usage.tokens += line.tokens;
        this.usage.cost += line.cost;
        this.usage.reports++;
        this.reportItem(
          {
            kind: 'usage',
            tokens: line.tokens,
            cost: line.cost,
            ...(line.inputTokens === null ? {} : { inputTokens: line.inputTokens }),
            ...(line.outputTokens === null ? {} : { outputTokens: line.outputTokens }),
            ...(line.model === null ? {} : { model: line.model }),
            ...(line.provider === null ? {} : { provider: line.provider }),
          },
          `usage: ${line.tokens} tokens, cost ${line.cost}`,
          {
            tokens: line.tokens,
            input_tokens: line.inputTokens,
            output_tokens: line.outputTokens,
            cost: line.cost,
            model: line.model,
            provider: line.provider,
          },
        );
        return;
      case 'artifact': {
        const bytes =
          line.content === null
            ? null
            : Buffer.byteLength(line.content, line.encoding === 'base64' ? 'base64' : 'utf8');
        this.reportItem(
          {
            kind: 'artifact',
            name: line.name,
            contentType: line.contentType,
            content: line.content,
            encoding: line.encoding,
            path: line.path,
            bytes,
          },
          `artifact ${line.name}`,
          // The content itself is not logged: it can be large, and it is data, not a log line.
          { name: line.name, content_type: line.contentType, path: line.path, bytes },
        );
        return;
      }
      case 'output':
        this.outputs.push(line.output);
        return;
      case 'error':
        this.error ??= line;
        return;
    }
  }

  private reportItem(item: AgentReport, message: string, metadata: Record<string, unknown>): void {
    this.context.log('info', `agent reported ${this.redact(message)}`, {
      report: item.kind,
      ...(this.redactJson(metadata) as Record<string, unknown>),
    });
    this.context.report?.(item);
  }

  private onEvent(line: Extract<AgentLine, { type: 'event' }>): void {
    const { invocation, context } = this;
    if (!(invocation.agent.permissions ?? []).includes('event:emit')) {
      this.fail(
        RuntimeError.forbidden(
          `the agent emitted event "${line.name}" without the event:emit permission (add it to the manifest's permissions)`,
        ),
      );
      return;
    }
    this.events++;
    // Keyed by the task, not the attempt: a retry that emits the same events stores them once.
    const key = `task:${invocation.taskId}:${line.key ?? `event-${this.events}`}`;
    const event = {
      ownerId: invocation.ownerId,
      source: line.source ?? `agent:${invocation.agent.name}`,
      type: line.name,
      payload: line.payload,
      runId: invocation.runId,
      taskId: invocation.taskId,
      idempotencyKey: key,
    };
    this.publishing = this.publishing.then(async () => {
      if (this.failure !== null) return;
      try {
        const id = await context.events.publish(event);
        context.log('info', `emitted event ${event.source}/${event.type}`, { event_id: id });
      } catch (error) {
        this.fail(
          error instanceof RuntimeError
            ? error
            : agentFailed(`publishing event ${event.type} failed: ${(error as Error).message}`, {
                retryable: true,
              }),
        );
      }
    });
  }

  private onStderr(text: string): void {
    const combined = this.stderrPartial + text;
    const lines = combined.split('\n');
    this.stderrPartial = lines.pop() ?? '';
    if (this.stderrPartial.length > STDERR_LINE_CHARS) {
      lines.push(this.stderrPartial);
      this.stderrPartial = '';
    }
    for (const raw of lines) {
      // Redacted before it is cut or kept: a value split by the cut would not be recognised.
      const line = this.redact(raw.replace(/\r$/, ''));
      this.stderrTail = `${this.stderrTail}${line}\n`.slice(-TAIL_CHARS);
      if (line.trim() === '') continue;
      if (this.stderrLogged >= this.limits.stderrLogBytes) {
        if (!this.stderrDropped) {
          this.stderrDropped = true;
          this.context.log('warning', `stderr beyond ${this.limits.stderrLogBytes} bytes is not logged`, {
            stream: 'stderr',
          });
        }
        continue;
      }
      const shown = line.length > STDERR_LINE_CHARS ? `${line.slice(0, STDERR_LINE_CHARS)}…` : line;
      this.stderrLogged += Buffer.byteLength(shown);
      this.context.log('info', shown, { stream: 'stderr' });
    }
  }

  private redact(text: string): string {
    return this.redactor.redactText(text);
  }

  private redactJson(value: unknown): unknown {
    if (value === undefined) return null;
    return this.redactor.redact(value);
  }

  /** The last lines of stderr, for an error message. */
  private tail(): string {
    const lines = this.stderrTail.trim().split('\n').slice(-5).join(' | ');
    const short = lines.length > 1000 ? `…${lines.slice(-1000)}` : lines;
    return short === '' ? '' : `; stderr: ${short}`;
  }

  /** The attempt's outcome once everything is over: its output, or the reason it failed. */
  judge(exit: SandboxExit, kind: ProgramKind, memoryMb: number): unknown {
    const heapExhausted =
      kind === 'node' && /JavaScript heap out of memory|Reached heap limit/.test(this.stderrTail);
    if (exit.memoryExceeded || heapExhausted) {
      const peak = exit.peakMemoryMb === null ? '' : `, ${exit.peakMemoryMb} MB seen`;
      throw agentFailed(
        `memory limit exceeded: the agent used more than its ${memoryMb} MB (resources.memory_mb${peak})`,
        { retryable: false },
      );
    }
    if (this.failure !== null) throw this.redactor.redactError(this.failure);
    if (this.error !== null) {
      throw agentFailed(`agent error: ${this.redact(this.error.message)}`, {
        retryable: this.error.retryable ?? true,
      });
    }
    if (exit.code !== 0) {
      const how =
        exit.code === null ? `was killed by ${exit.signal ?? 'a signal'}` : `exited with code ${exit.code}`;
      throw agentFailed(`the agent ${how}${this.tail()}`, { retryable: true });
    }
    const invalid = this.invalid.length === 0 ? '' : ` (a stdout line was not valid: ${this.invalid[0]})`;
    if (this.outputs.length === 0) {
      throw agentFailed(
        `the agent exited with code 0 without writing an output line ({"type":"output","output":…})${invalid}${this.tail()}`,
        { retryable: false },
      );
    }
    if (this.outputs.length > 1) {
      throw agentFailed(`the agent wrote ${this.outputs.length} output lines; exactly one is expected`, {
        retryable: false,
      });
    }
    const output = this.outputs[0] ?? null;
    if (this.usage.reports > 0) {
      this.context.log('info', `usage in all: ${this.usage.tokens} tokens, cost ${this.usage.cost}`, {
        report: 'usage-total',
        tokens: this.usage.tokens,
        cost: this.usage.cost,
      });
    }
    return output;
  }
}
