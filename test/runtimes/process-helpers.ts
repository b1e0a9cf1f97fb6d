import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import {
  isAlive,
  listProcs,
  ProcessRuntime,
  ProcessSandbox,
  type AgentInvocation,
  type AgentReport,
  type InvokedAgent,
  type MemoryEnforcement,
  detectIsolation,
  type IsolationMode,
  type ProcessLimits,
} from '../../src/runtimes/index.js';
import { makeContext, type TestContext } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const FIXTURES = path.join(here, 'fixtures');
export const EXAMPLE_AGENTS = path.resolve(here, '../../examples/agents');

/** The memory mechanisms this machine offers: sampling always (on Linux), a cgroup when it can. */
export const MECHANISMS: readonly MemoryEnforcement[] = new ProcessSandbox().mechanism.startsWith('cgroup')
  ? ['cgroup', 'sample']
  : ['sample'];

export interface Harness {
  readonly home: string;
  readonly runtime: ProcessRuntime;
  close(): void;
}

/**
 * The isolations this machine offers: none always; namespaces when the tests run as root with
 * util-linux (src/runtimes/process/isolation.ts).
 */
export const ISOLATIONS: readonly IsolationMode[] =
  detectIsolation(process.execPath).kind === 'namespaces' ? ['namespaces', 'none'] : ['none'];

export function harness(
  memory: MemoryEnforcement = 'auto',
  limits: Partial<ProcessLimits> = {},
  isolation: IsolationMode = 'auto',
): Harness {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-process-'));
  return {
    home,
    runtime: new ProcessRuntime({
      home,
      sandbox: new ProcessSandbox({ memory, isolation: { mode: isolation } }),
      limits,
    }),
    close: () => fs.rmSync(home, { recursive: true, force: true }),
  };
}

export const probe = (more: Partial<InvokedAgent> = {}): InvokedAgent => ({
  name: 'probe',
  version: '1.0.0',
  runtime: { type: 'node', entry: 'probe.js' },
  folder: path.join(FIXTURES, 'probe'),
  memoryMb: 256,
  permissions: [],
  ...more,
});

export const probePy = (more: Partial<InvokedAgent> = {}): InvokedAgent => ({
  ...probe({ runtime: { type: 'python', entry: 'probe.py' }, folder: path.join(FIXTURES, 'probe-py') }),
  name: 'probe-py',
  ...more,
});

export function invoke(
  agent: InvokedAgent,
  input: unknown,
  more: Partial<AgentInvocation> = {},
): AgentInvocation {
  return {
    taskId: `task-${Math.random().toString(36).slice(2, 10)}`,
    runId: 'run-1',
    stepId: 'step',
    ownerId: 'owner-1',
    attempt: 1,
    idempotencyKey: 'swarm-test-key',
    agent,
    input,
    ...more,
  };
}

export interface ReportingContext extends TestContext {
  readonly reports: AgentReport[];
}

export function context(
  options: Parameters<typeof makeContext>[0] & { secrets?: Record<string, string> } = {},
) {
  const base = makeContext(options);
  const reports: AgentReport[] = [];
  const ctx: ReportingContext = {
    ...base,
    reports,
    ...(options.secrets === undefined ? {} : { secrets: options.secrets }),
    report: (item) => reports.push(item),
  };
  return ctx;
}

/** The pids an agent logged (`{type: log, message: pids, data}`), once it has. */
export async function loggedPids(ctx: TestContext): Promise<Record<string, number>> {
  for (let i = 0; i < 2000; i++) {
    const entry = ctx.logs.find((l) => l.message === 'pids');
    if (entry !== undefined) return entry.metadata as Record<string, number>;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('the agent never logged its pids');
}

/** Asserts that none of `pids` is alive and no live process is left in their process groups. */
export async function expectGone(pids: Record<string, number>): Promise<void> {
  const ids = Object.values(pids).filter((p) => typeof p === 'number');
  expect(ids.length).toBeGreaterThan(0);
  for (const pid of ids) expect(await isAlive(pid), `pid ${pid} is still alive`).toBe(false);
  const left = (await listProcs()).filter((p) => ids.includes(p.pgid) && p.state !== 'Z' && p.state !== 'X');
  expect(left, 'processes left in the agent process groups').toEqual([]);
}

/** The working folders left under `home` (none, after every attempt). */
export function workFolders(home: string): string[] {
  const root = path.join(home, 'work');
  return fs.existsSync(root) ? fs.readdirSync(root) : [];
}
