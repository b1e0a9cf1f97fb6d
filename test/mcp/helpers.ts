/**
 * The test MCP server (test/fixtures/mcp/server.mjs) as the MCP tests use it: its calls file, its
 * stdio declaration, its streamable-HTTP entry started on 127.0.0.1, and its stdio processes
 * found on this machine (to kill one, as a crash would).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';

export const FIXTURE = path.resolve(import.meta.dirname, '../fixtures/mcp/server.mjs');

export interface RecordedCall {
  readonly tool: string;
  readonly args: Record<string, unknown>;
  readonly transport: 'stdio' | 'http';
}

/** A calls file the sandboxed server (another uid) can write: in a folder open to all. */
export function callsFile(): { readonly file: string; remove(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'swarm-mcp-calls-'));
  chmodSync(dir, 0o777);
  return { file: path.join(dir, 'calls.jsonl'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export function readCalls(file: string): RecordedCall[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as RecordedCall);
}

/** The PUT body of a stdio server running the fixture, recording into `file`. */
export function stdioServer(file: string, env: string[] = []): Record<string, unknown> {
  return { command: 'node', args: [FIXTURE, 'stdio', file], ...(env.length === 0 ? {} : { env }) };
}

export interface HttpFixture {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** The fixture's HTTP entry as a process of its own; `port` 0 picks one. */
export async function startHttpFixture(
  file: string,
  options: { port?: number; token?: string } = {},
): Promise<HttpFixture> {
  const child: ChildProcess = spawn(process.execPath, [FIXTURE, 'http', file, String(options.port ?? 0)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      PATH: process.env.PATH,
      ...(options.token === undefined ? {} : { TEST_MCP_TOKEN: options.token }),
    },
  });
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the HTTP fixture exited with ${code}`)));
    lines.once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
  });
  return {
    port,
    url: `http://127.0.0.1:${port}/mcp`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

function commandLines(): Array<{ pid: number; argv: string[] }> {
  const found: Array<{ pid: number; argv: string[] }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      found.push({ pid: Number(entry), argv: readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0') });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/**
 * Whether anything still runs with `file` in its command line: the server and the sandbox's
 * wrappers around it (unshare, which outlives its child by a moment).
 */
export function anyProcessNaming(file: string): boolean {
  return commandLines().some(({ pid, argv }) => pid !== process.pid && argv.includes(file));
}

/** Host pids of the fixture's stdio servers recording into `file` (the node process itself). */
export function stdioServerPids(file: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (
      path.basename(argv[0] ?? '') === 'node' &&
      argv[1] === FIXTURE &&
      argv[2] === 'stdio' &&
      argv[3] === file
    )
      pids.push(Number(entry));
  }
  return pids;
}
