import { runCli, type CliIo } from '../../src/cli/index.js';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI in-process with captured output and the given environment. */
export async function cli(
  argv: string[],
  env: NodeJS.ProcessEnv = {},
  cwd = process.cwd(),
): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    out: (text) => void (stdout += text.endsWith('\n') ? text : `${text}\n`),
    err: (text) => void (stderr += text.endsWith('\n') ? text : `${text}\n`),
    env: { PATH: process.env.PATH, ...env },
    cwd,
    waitForShutdown: () => Promise.resolve('SIGTERM'),
  };
  const code = await runCli(argv, io);
  return { code, stdout, stderr };
}
