/**
 * The MCP stdio transport over a program running in the process sandbox: newline-delimited
 * JSON-RPC on its stdin and stdout (the SDK's ReadBuffer and serializeMessage), its stderr kept
 * as a short redacted tail for error messages. The SDK's own StdioClientTransport is not used:
 * it spawns the program itself, outside the sandbox, with the worker's environment.
 */
import { ReadBuffer, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { SandboxExit, SandboxedProcess } from '../runtimes/index.js';
import type { Redactor } from '../secrets/index.js';

const STDERR_TAIL_CHARS = 2000;

export class SandboxStdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  private readonly buffer = new ReadBuffer();
  private started = false;
  private exit: SandboxExit | null = null;
  private stderrTail = '';

  constructor(
    private readonly proc: SandboxedProcess,
    private readonly redactor: Redactor,
  ) {}

  /** Whether the program has ended (and everything it started with it). */
  get ended(): boolean {
    return this.exit !== null;
  }

  start(): Promise<void> {
    if (this.started) return Promise.reject(new Error('the stdio transport is started already'));
    this.started = true;
    const { proc } = this;
    proc.stdout.on('data', (chunk: Buffer) => this.onStdout(chunk));
    proc.stderr.on('data', (chunk: Buffer) => {
      this.stderrTail = `${this.stderrTail}${chunk.toString('utf8')}`.slice(-STDERR_TAIL_CHARS);
    });
    proc.stdin.on('error', (error) => this.onerror?.(error));
    void proc.exited.then((exit) => {
      this.exit = exit;
      this.onclose?.();
    });
    return Promise.resolve();
  }

  private onStdout(chunk: Buffer): void {
    try {
      this.buffer.append(chunk);
    } catch (error) {
      // A line past the buffer's limit: the stream cannot be trusted any more.
      this.onerror?.(error as Error);
      this.proc.kill();
      return;
    }
    for (;;) {
      let message: JSONRPCMessage | null;
      try {
        message = this.buffer.readMessage();
      } catch (error) {
        // One line that is not a JSON-RPC message: said, skipped (servers print banners).
        this.onerror?.(error as Error);
        continue;
      }
      if (message === null) return;
      this.onmessage?.(message);
    }
  }

  send(message: JSONRPCMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.exit !== null || this.proc.stdin.destroyed) {
        reject(new Error(`the server's program has ended (${this.describeExit()})`));
        return;
      }
      if (this.proc.stdin.write(serializeMessage(message))) resolve();
      else this.proc.stdin.once('drain', () => resolve());
    });
  }

  async close(): Promise<void> {
    this.proc.kill();
    await this.proc.exited;
  }

  /** How the program ended, with the last lines of its stderr (secret values redacted). */
  describeExit(): string {
    const exit = this.exit;
    const how =
      exit === null
        ? 'it is still running'
        : exit.memoryExceeded
          ? 'it went past its memory limit'
          : exit.code === null
            ? `it was killed by ${exit.signal ?? 'a signal'}`
            : `it exited with code ${exit.code}`;
    const tail = this.redactor.redactText(this.stderrTail.trim().split('\n').slice(-5).join(' | '));
    return tail === '' ? how : `${how}; stderr: ${tail}`;
  }
}
