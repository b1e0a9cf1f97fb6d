/**
 * Starting a stdio MCP server in the process sandbox, under the rules of process agents: an
 * argument array (never a shell), a fresh working folder that is its HOME and TMPDIR, an
 * environment of PATH, HOME, TMPDIR, LANG and the secrets its `env` names (nothing of the
 * worker's), a memory limit on the whole tree, and — where the host allows — its own namespaces,
 * SWARM_HOME hidden, an unprivileged uid. Where it does not, only admins' servers start, unless
 * SWARM_ALLOW_UNISOLATED_AGENTS says otherwise.
 */
import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, realpath, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import {
  DEFAULT_AGENT_PATH,
  findOnPath,
  RuntimeError,
  type Sandbox,
  type SandboxedProcess,
} from '../runtimes/index.js';
import type { McpServerRecord } from '../storage/index.js';
import { McpServerUnavailable } from './errors.js';

/** What a stdio server's program may use at most, its whole process tree together. */
export const MCP_SERVER_MEMORY_MB = 512;

export interface StdioLaunchOptions {
  /** The sandbox process agents run in (the worker's). */
  readonly sandbox: Sandbox;
  /** SWARM_HOME: working folders are made in `<home>/work/`, and the sandbox hides the rest. */
  readonly home: string;
  /** What `node` means: the worker's Node.js, as for node agents. @default process.execPath */
  readonly node?: string;
  /** Where a bare command is looked for: the sandbox's PATH. @default DEFAULT_AGENT_PATH */
  readonly path?: string;
  /** @default MCP_SERVER_MEMORY_MB */
  readonly memoryMb?: number;
  /**
   * When the sandbox cannot isolate programs: whose servers may still start (the process
   * runtime's rule). Absent: everyone's (a library default; the worker always sets it).
   */
  readonly unisolated?: { readonly allow: boolean; trusted(ownerId: string): Promise<boolean> };
}

export interface StartedServer {
  readonly proc: SandboxedProcess;
  /** Removes the working folder; call once the program has ended. */
  cleanUp(): Promise<void>;
}

/** The program a server's `command` names, as an absolute real path, or why it cannot run. */
async function programOf(server: McpServerRecord, options: StdioLaunchOptions): Promise<string> {
  const command = server.command ?? '';
  const searchPath = options.path ?? DEFAULT_AGENT_PATH;
  const found =
    command === 'node'
      ? (options.node ?? process.execPath)
      : path.isAbsolute(command)
        ? command
        : findOnPath(command, searchPath);
  const missing = (why: string) => new McpServerUnavailable(server.name, why, { retryable: false });
  if (found === null) throw missing(`command ${command} is not on the sandbox's PATH (${searchPath})`);
  const real = await realpath(found).catch(() => null);
  if (real === null) throw missing(`command ${found} does not exist on this worker`);
  if (!(await stat(real)).isFile()) throw missing(`command ${found} is not a file`);
  await access(real, constants.X_OK).catch(() => {
    throw missing(`command ${found} is not executable`);
  });
  return real;
}

export async function startStdioServer(
  server: McpServerRecord,
  env: Readonly<Record<string, string>>,
  options: StdioLaunchOptions,
): Promise<StartedServer> {
  const { sandbox, unisolated } = options;
  if (sandbox.isolated !== true && unisolated !== undefined && !unisolated.allow) {
    if (!(await unisolated.trusted(server.ownerId)))
      throw new RuntimeError(
        'FORBIDDEN',
        `MCP server "${server.name}": this worker cannot isolate programs (see its start-up log), so it starts stdio MCP servers of admins only; an admin may set SWARM_ALLOW_UNISOLATED_AGENTS=true`,
        { retryable: false, status: 403, context: { server: server.name } },
      );
  }
  const program = await programOf(server, options);
  // The real path: the sandbox hides SWARM_HOME and binds this folder back by that path.
  await mkdir(options.home, { recursive: true, mode: 0o700 });
  const home = await realpath(options.home);
  const root = path.join(home, 'work');
  await mkdir(root, { recursive: true, mode: 0o700 });
  const work = await mkdtemp(path.join(root, `mcp-${server.name}-`));
  const cleanUp = () => rm(work, { recursive: true, force: true, maxRetries: 2 }).catch(() => undefined);
  try {
    const proc = await sandbox.start({
      kind: 'binary',
      agentFolder: path.dirname(program),
      entry: path.basename(program),
      args: server.args,
      workFolder: work,
      env,
      memoryMb: options.memoryMb ?? MCP_SERVER_MEMORY_MB,
      permissions: [],
      stdin: '',
      keepStdinOpen: true,
      label: path.basename(work),
      hide: home,
    });
    return { proc, cleanUp };
  } catch (error) {
    await cleanUp();
    if (error instanceof RuntimeError && error.code === 'FORBIDDEN') throw error;
    throw new McpServerUnavailable(server.name, `cannot start ${program}: ${(error as Error).message}`, {
      retryable: false,
      cause: error,
    });
  }
}
