import { Readable } from 'node:stream';
import { runCli, type CliIo } from '../../src/cli/index.js';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI in-process with captured output, the given environment and, if given, standard input. */
export async function cli(
  argv: string[],
  env: NodeJS.ProcessEnv = {},
  cwd = process.cwd(),
  stdin?: string,
): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    out: (text) => void (stdout += text.endsWith('\n') ? text : `${text}\n`),
    err: (text) => void (stderr += text.endsWith('\n') ? text : `${text}\n`),
    env: { PATH: process.env.PATH, ...env },
    cwd,
    waitForShutdown: () => Promise.resolve('SIGTERM'),
    ...(stdin === undefined ? {} : { stdin: Readable.from([Buffer.from(stdin)]) }),
  };
  const code = await runCli(argv, io);
  return { code, stdout, stderr };
}

/** The CLI with `stdin` as its standard input (e.g. `--password-stdin`). */
export function cliWithInput(argv: string[], env: NodeJS.ProcessEnv, stdin?: string): Promise<CliResult> {
  return cli(argv, env, process.cwd(), stdin ?? '');
}
