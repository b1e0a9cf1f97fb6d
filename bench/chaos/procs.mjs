// The processes a chaos run starts and hurts: one `swarm start` (the API server) and N
// `swarm worker` processes from the built dist/, and the PostgreSQL cluster they share.
// Every child is tracked so the run can clean up after itself, on success, failure or Ctrl-C.
import { execFile, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Every child process alive, so `killAll` can reach them whatever state the run is in. */
const children = new Set();

/** Kills (SIGCONT first: a stopped process ignores nothing but SIGKILL) every child still alive. */
export function killAll() {
  for (const child of children) {
    try {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** A free TCP port on 127.0.0.1: the server is restarted on the same one, so clients keep their URL. */
export async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
  const address = server.address();
  await new Promise((resolve) => server.close(() => resolve(undefined)));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/**
 * One long-lived Swarm process (server or worker) that the run kills, stops and restarts. Each
 * start is an incarnation with its own pid; what was seen of each is kept for the report.
 */
export class SwarmProcess {
  /**
   * @param {object} o
   * @param {string} o.name        label in logs and the report (`server`, `worker-2`)
   * @param {string} o.mainJs      dist/cli/main.js
   * @param {string[]} o.args      `start` or `worker …`
   * @param {NodeJS.ProcessEnv} o.env
   * @param {RegExp} o.ready       a stdout line that says the process is serving
   * @param {string} o.logDir      stdout and stderr of every incarnation are appended to <name>.log
   */
  constructor(o) {
    this.o = o;
    /** @type {import('node:child_process').ChildProcess | null} */
    this.child = null;
    /** 'down' | 'starting' | 'up' | 'stopped' | 'killed' (signalled, exit not seen yet) */
    this.state = 'down';
    /** @type {Array<{pid: number, startedAt: number, readyAt: number | null, endedAt: number | null, end: string | null, readyMatch: RegExpExecArray | null}>} */
    this.incarnations = [];
    /** Exits nobody asked for (a crash): each with its code/signal and the log's last lines. */
    this.crashes = [];
    this.expectingExit = false;
    this.log = createWriteStream(path.join(o.logDir, `${o.name}.log`), { flags: 'a' });
    this.tail = '';
    /** Called after an exit nobody asked for (the run restarts the process). */
    this.onCrash = () => {};
  }

  get pid() {
    return this.child?.pid ?? null;
  }

  /**
   * Starts an incarnation and resolves once its ready line is printed, with the match. A start
   * that fails (e.g. the database is restarting) is retried: that is what a supervisor does.
   * @param {number} [timeoutMs]
   */
  async start(timeoutMs = 180_000) {
    const deadline = Date.now() + timeoutMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.startOnce(Math.max(1000, deadline - Date.now()));
      } catch (error) {
        if (Date.now() >= deadline || attempt >= 20) throw error;
        this.write(
          `[chaos] ${this.o.name} start attempt ${attempt} failed: ${error.message.split('\n')[0]}; retrying\n`,
        );
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /** @param {number} timeoutMs */
  startOnce(timeoutMs) {
    this.state = 'starting';
    this.expectingExit = false;
    const child = spawn(process.execPath, [this.o.mainJs, ...this.o.args], {
      env: this.o.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    children.add(child);
    const inc = {
      pid: child.pid ?? -1,
      startedAt: Date.now(),
      readyAt: null,
      endedAt: null,
      end: null,
      readyMatch: null,
    };
    this.incarnations.push(inc);
    this.write(`[chaos] ${new Date().toISOString()} ${this.o.name} spawned pid ${child.pid}\n`);
    let out = '';
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.expectingExit = true;
        child.kill('SIGKILL');
        reject(new Error(`${this.o.name} not ready after ${timeoutMs} ms`));
      }, timeoutMs);
      child.stdout?.on('data', (chunk) => {
        this.write(chunk);
        if (inc.readyAt !== null) return;
        out += chunk;
        const match = this.o.ready.exec(out);
        if (match) {
          clearTimeout(timer);
          inc.readyAt = Date.now();
          inc.readyMatch = match;
          this.state = 'up';
          resolve(match);
        }
      });
      child.stderr?.on('data', (chunk) => this.write(chunk));
      child.on('exit', (code, signal) => {
        children.delete(child);
        clearTimeout(timer);
        inc.endedAt = Date.now();
        inc.end = signal ?? `exit ${code}`;
        this.write(`[chaos] ${new Date().toISOString()} ${this.o.name} pid ${child.pid} ended: ${inc.end}\n`);
        if (this.child === child) {
          this.child = null;
          this.state = 'down';
        }
        if (inc.readyAt === null) {
          reject(
            new Error(`${this.o.name} exited (${inc.end}) before it was ready: ${lastLines(this.tail)}`),
          );
        } else if (!this.expectingExit) {
          this.crashes.push({ pid: child.pid, at: Date.now(), end: inc.end, log: lastLines(this.tail) });
          this.onCrash();
        }
      });
    });
  }

  /** kill -9: the process gets no chance to hand anything back. Resolves once it is gone. */
  async kill9() {
    const child = this.child;
    if (child === null) return;
    this.expectingExit = true;
    // Not 'up' from now on: under load the exit is seen a while after the signal, and no other
    // fault may pick a process that is already dying.
    this.state = 'killed';
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await exited;
  }

  /** SIGSTOP: the process holds its leases but renews nothing (a GC pause, a frozen VM). */
  stop() {
    if (this.child === null || this.state !== 'up') return false;
    this.child.kill('SIGSTOP');
    this.state = 'stopped';
    this.write(`[chaos] ${new Date().toISOString()} ${this.o.name} SIGSTOP\n`);
    return true;
  }

  resume() {
    if (this.child === null || this.state !== 'stopped') return;
    this.child.kill('SIGCONT');
    this.state = 'up';
    this.write(`[chaos] ${new Date().toISOString()} ${this.o.name} SIGCONT\n`);
  }

  /** A graceful stop (SIGTERM), then SIGKILL after `graceMs`. */
  async shutdown(graceMs = 15_000) {
    const child = this.child;
    if (child === null) return;
    this.expectingExit = true;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGCONT');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }

  /** @param {string | Buffer} chunk */
  write(chunk) {
    this.log.write(chunk);
    this.tail = (this.tail + chunk.toString()).slice(-4000);
  }

  async close() {
    await new Promise((r) => this.log.end(r));
  }
}

/** @param {string} text */
function lastLines(text, n = 8) {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}

/**
 * The command that restarts the PostgreSQL cluster serving `url` (Debian/Ubuntu's
 * pg_ctlcluster, the cluster found by its port), or null when the server is not a local cluster.
 * @param {string} url
 */
export async function pgRestartCommand(url) {
  const u = new URL(url);
  if (!['127.0.0.1', 'localhost', '::1', '[::1]', ''].includes(u.hostname)) return null;
  const port = u.port === '' ? '5432' : u.port;
  try {
    const { stdout } = await run('pg_lsclusters', ['--no-header']);
    for (const line of stdout.split('\n')) {
      const [version, cluster, clusterPort] = line.trim().split(/\s+/);
      if (clusterPort === port && version && cluster)
        return ['pg_ctlcluster', ['--skip-systemctl-redirect', version, cluster, 'restart']];
    }
  } catch {
    // no pg_lsclusters: not a Debian-style install
  }
  return null;
}

/**
 * Restarts PostgreSQL (a fast shutdown: every connection is cut, as in a crash-restart or
 * failover) and resolves with how long it took.
 * @param {[string, string[]]} command
 */
export async function restartPostgres(command) {
  const t0 = Date.now();
  await run(command[0], command[1], { timeout: 120_000 });
  return Date.now() - t0;
}
