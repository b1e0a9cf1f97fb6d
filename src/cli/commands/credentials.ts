import type { Command } from 'commander';
import { loadConfig } from '../../config/index.js';
import { isSwarmError, type SwarmError } from '../../errors/index.js';
import { ApiClient } from '../client.js';
import { formatTable, type CliIo } from '../io.js';
import { resolveTarget } from '../target.js';

/** A value for a POSIX shell, single-quoted. */
function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** `swarm whoami` and `swarm credentials …`: which saved credential and server the CLI uses. */
export function registerCredentialCommands(program: Command, io: CliIo): void {
  const target = () => {
    const t = resolveTarget(loadConfig(io.env, io.cwd), io.cwd);
    // On stderr, as every API command says it: a guess among several is worth knowing.
    if (t.note !== null) io.err(t.note);
    return t;
  };

  program
    .command('whoami')
    .description('The server, credential and user this CLI uses (and why that credential)')
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }) => {
      const t = target();
      let user: { email?: string; name?: string; role?: string } | null = null;
      let failure: SwarmError | null = null;
      try {
        user = await new ApiClient(t.url, t.apiKey, t.urlFrom).request('GET', '/api/v1/me');
      } catch (error) {
        if (!isSwarmError(error)) throw error;
        failure = error;
      }
      const problem = failure === null ? null : `${failure.message} [${failure.code}]`;
      const view = {
        url: t.url,
        urlFrom: t.urlFrom,
        credential: t.credential?.name ?? null,
        chosenBy: t.chosenBy,
        database: t.credential?.database ?? null,
        keyFrom: t.keyFrom,
        user,
        error: problem,
      };
      if (options.json) io.out(JSON.stringify(view));
      else {
        io.out(`server      ${t.url} (URL from ${t.urlFrom})`);
        if (t.credential !== null)
          io.out(`credential  ${t.credential.name}: ${t.chosenBy} (${t.saved.length} saved)`);
        if (t.credential?.database !== undefined) io.out(`database    ${t.credential.database}`);
        io.out(`key from    ${t.keyFrom}`);
        if (user !== null) io.out(`user        ${user.email} (${user.role})`);
      }
      // What is known is printed; then the error says why the server did not answer (exit 1).
      if (failure !== null) throw failure;
    });

  const credentials = program
    .command('credentials')
    .description('The credentials saved in SWARM_HOME: one per database a server here bootstrapped');
  credentials
    .command('list')
    .description('Every saved credential (never a key); * marks the one the CLI uses')
    .option('--json', 'machine-readable output (without the keys)')
    .action((options: { json?: boolean }) => {
      const t = target();
      const rows = t.saved.map((c) => ({
        name: c.name,
        inUse: c === t.credential,
        database: c.database ?? null,
        url: c.url ?? null,
        createdAt: c.createdAt ?? null,
        startedAt: c.startedAt ?? null,
        keyPrefix: c.apiKey.slice(0, 12),
      }));
      if (options.json) return io.out(JSON.stringify(rows));
      if (rows.length === 0) return io.out('no saved credentials');
      io.out(
        formatTable(
          ['', 'NAME', 'DATABASE', 'SERVER', 'LAST STARTED', 'KEY'],
          rows.map((r) => [
            r.inUse ? '*' : '',
            r.name,
            r.database ?? '-',
            r.url ?? '-',
            r.startedAt ?? r.createdAt ?? '-',
            `${r.keyPrefix}…`,
          ]),
        ),
      );
    });
  credentials
    .command('env')
    .description(
      'Shell lines that export SWARM_URL and SWARM_API_KEY of the credential in use: eval "$(swarm credentials env)"',
    )
    .action(() => {
      const t = target();
      io.out(`export SWARM_URL=${shellQuote(t.url)}`);
      io.out(`export SWARM_API_KEY=${shellQuote(t.apiKey)}`);
    });
}
