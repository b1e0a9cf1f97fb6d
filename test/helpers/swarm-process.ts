import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The README's way to call the CLI: the `./swarm` script at the root, running dist/. */
export const SWARM_SCRIPT = path.join(ROOT, 'swarm');
export const MAIN = path.join(ROOT, 'dist/cli/main.js');

/** Every server started and not yet stopped: `stopAll` ends them, even one a timed-out test left. */
const running = new Set<ChildProcess>();

/** Stops every server `startSwarm` started (SIGTERM, then SIGKILL after 15 s). */
export async function stopAll(): Promise<void> {
  await Promise.all(
    [...running].map(async (child) => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }),
  );
}

export interface Started {
  readonly child: ChildProcess;
  /** Everything it printed so far, stdout and stderr. */
  readonly output: { text: string };
  readonly url: string;
  /** The admin key, printed on a database's first start only. */
  readonly key: string | undefined;
  /** Stops it (SIGTERM) and resolves with its exit code. */
  stop(): Promise<number | null>;
}

/**
 * `swarm start` as `npm start` runs it, with only `env` (and PATH) set; resolves once it
 * listens (and, on a database's first start, has printed the key it saved).
 */
export async function startSwarm(env: NodeJS.ProcessEnv, cwd: string, firstStart: boolean): Promise<Started> {
  const output = { text: '' };
  const child = spawn(process.execPath, [MAIN, 'start'], {
    env: { PATH: process.env.PATH, SWARM_LOG_LEVEL: 'warn', ...env },
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
  running.add(child);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  const [, url] = await waitFor(child, output, /listening on (http:\/\/\S+)/);
  if (firstStart) await waitFor(child, output, /^Saved as credential /m);
  const key = /^\s+(swarm_\S+)$/m.exec(output.text)?.[1];
  return {
    child,
    output,
    url: url!,
    key,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

export interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `./swarm <args>` with only `env` (and PATH) set, as a second shell would. */
export function swarm(args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(SWARM_SCRIPT, args, {
      env: { PATH: process.env.PATH, ...env },
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Waits until the child's output matches `pattern`, or fails with what it printed. */
export function waitFor(
  child: ChildProcess,
  output: { text: string },
  pattern: RegExp,
  ms = 60_000,
): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error, match?: RegExpMatchArray) => {
      clearTimeout(timer);
      child.stdout!.off('data', check);
      child.stderr!.off('data', check);
      child.off('exit', exited);
      if (error) reject(error);
      else resolve(match!);
    };
    const timer = setTimeout(
      () => done(new Error(`timed out waiting for ${pattern}; got:\n${output.text}`)),
      ms,
    );
    const check = () => {
      const match = output.text.match(pattern);
      if (match) done(undefined, match);
    };
    const exited = (code: number | null) =>
      done(new Error(`exited with ${code} before ${pattern}; got:\n${output.text}`));
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    child.once('exit', exited);
    check();
  });
}
