import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../errors/index.js';
/** Where a CLI run reads and writes: the process by default, buffers in tests. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /** Resolves when the process is asked to stop (SIGINT/SIGTERM); `start` waits on it. */
  waitForShutdown(): Promise<string>;
  /** Standard input, for commands that read a value from it (`secrets set`). @default process.stdin */
  readonly stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
}

export function processIo(): CliIo {
  return {
    out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
    env: process.env,
    cwd: process.cwd(),
    waitForShutdown: () =>
      new Promise((resolve) => {
        const onSignal = (signal: NodeJS.Signals) => {
          // A second signal while shutting down means "now".
          process.once(signal, () => process.exit(130));
          resolve(signal);
        };
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
      }),
  };
}

/** Prints `rows` as an aligned table with a header. */
export function formatTable(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** A JSON flag's value: `--input '{"a":1}'` or `--input @file.json`; errors name the flag. */
export function readJsonOption(raw: string, flag: string, cwd: string): unknown {
  let text = raw;
  if (raw.startsWith('@')) {
    try {
      text = fs.readFileSync(path.resolve(cwd, raw.slice(1)), 'utf8');
    } catch {
      throw new InputError(flag, `cannot read ${raw.slice(1)}`);
    }
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new InputError(flag, `not JSON: ${(error as Error).message}`);
  }
}
