import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../../config/index.js';
import { InputError, SwarmError } from '../../errors/index.js';
import type { RotationReport, SecretRecord } from '../../secrets/index.js';
import { ApiClient } from '../client.js';
import { formatTable, type CliIo } from '../io.js';

type Input = NonNullable<CliIo['stdin']>;

/** Everything on a pipe, less one final newline (`echo value | swarm secrets set NAME`). */
async function readPipe(input: Input): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of input) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** A line typed at a terminal, not echoed. */
async function readHidden(input: Input & { setRawMode?: (on: boolean) => void }, io: CliIo, name: string) {
  io.err(`Value for ${name} (not shown; Enter ends it):`);
  input.setRawMode?.(true);
  input.setEncoding('utf8');
  input.resume();
  try {
    return await new Promise<string>((resolve, reject) => {
      let value = '';
      const onData = (chunk: string | Buffer) => {
        for (const char of String(chunk)) {
          if (char === '\r' || char === '\n' || char === '\u0004') {
            input.removeListener('data', onData);
            return resolve(value);
          }
          if (char === '\u0003') {
            input.removeListener('data', onData);
            return reject(new SwarmError('INPUT_INVALID', 'interrupted; nothing was set'));
          }
          if (char === '\u007f' || char === '\b') value = value.slice(0, -1);
          else value += char;
        }
      };
      input.on('data', onData);
    });
  } finally {
    input.setRawMode?.(false);
    input.pause();
  }
}

function describe(secret: SecretRecord): string {
  return `${secret.name} (${secret.workflow === null ? 'global' : `workflow ${secret.workflow}`})`;
}

export function registerSecretCommands(program: Command, io: CliIo): void {
  const secrets = program
    .command('secrets')
    .description('Encrypted secrets for agents (values are never shown)');
  const client = () => ApiClient.forCli(io);

  secrets
    .command('set')
    .description(
      'Create or replace a secret. The value comes from --value, --from-file (as is), or standard input ' +
        '(a final newline dropped; typed unseen at a terminal)',
    )
    .argument('<NAME>', 'letters, digits and _, not starting with a digit (what secret:NAME grants)')
    .option('--value <value>', 'the value (it stays in your shell history: prefer stdin or --from-file)')
    .option('--from-file <file>', 'read the value from this file, byte for byte')
    .option('--workflow <workflow>', 'scope the secret to this workflow (all its versions)')
    .option('--json', 'machine-readable output')
    .action(
      async (
        name: string,
        options: { value?: string; fromFile?: string; workflow?: string; json?: boolean },
      ) => {
        // The checks the server makes, made first here (loaded for this command only).
        const { checkSecretName, checkSecretValue } = await import('../../secrets/index.js');
        checkSecretName(name, 'NAME');
        if (options.value !== undefined && options.fromFile !== undefined)
          throw new InputError('--value', 'give --value or --from-file, not both');
        let value: string;
        let source: string;
        if (options.value !== undefined) {
          value = options.value;
          source = '--value';
        } else if (options.fromFile !== undefined) {
          const file = path.resolve(io.cwd, options.fromFile);
          try {
            value = fs.readFileSync(file, 'utf8');
          } catch (error) {
            throw new InputError(
              '--from-file',
              `cannot read ${file}: ${(error as NodeJS.ErrnoException).code}`,
            );
          }
          source = '--from-file';
        } else {
          const input = io.stdin ?? process.stdin;
          value = input.isTTY ? await readHidden(input, io, name) : await readPipe(input);
          source = 'stdin';
        }
        checkSecretValue(value, source);
        const result = await client().request<{ created: boolean; secret: SecretRecord }>(
          'PUT',
          `/api/v1/secrets/${encodeURIComponent(name)}`,
          { value, ...(options.workflow === undefined ? {} : { workflow: options.workflow }) },
        );
        if (options.json) return io.out(JSON.stringify(result));
        io.out(
          `${result.created ? 'created' : 'updated'} secret ${describe(result.secret)}, key version ${result.secret.keyVersion}`,
        );
      },
    );

  secrets
    .command('list')
    .description('Your secrets: names, scope, key version and when they changed (never values)')
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }) => {
      const { items } = await client().request<{ items: SecretRecord[] }>('GET', '/api/v1/secrets');
      if (options.json) return io.out(JSON.stringify(items));
      if (items.length === 0) return io.out('no secrets');
      io.out(
        formatTable(
          ['NAME', 'SCOPE', 'WORKFLOW', 'KEY', 'UPDATED'],
          items.map((s) => [
            s.name,
            s.scope,
            s.workflow ?? '-',
            s.keyVersion === 0 ? '0 (legacy: set it again)' : s.keyVersion,
            s.updatedAt,
          ]),
        ),
      );
    });

  secrets
    .command('rm')
    .description('Remove a secret: the global one, or with --workflow the one scoped to that workflow')
    .argument('<NAME>', 'the secret')
    .option('--workflow <workflow>', 'the workflow it is scoped to')
    .action(async (name: string, options: { workflow?: string }) => {
      const query = options.workflow === undefined ? '' : `?workflow=${encodeURIComponent(options.workflow)}`;
      await client().request('DELETE', `/api/v1/secrets/${encodeURIComponent(name)}${query}`);
      io.out(
        `removed secret ${name}${options.workflow === undefined ? '' : ` (workflow ${options.workflow})`}`,
      );
    });

  secrets
    .command('rotate-key')
    .description(
      'Re-encrypt every secret (of every user) under a new master key version, in one transaction. ' +
        'With the key file, adds the version to it; with SWARM_MASTER_KEYS, uses its newest version',
    )
    .option(
      '--database-url <url>',
      'database to work on (default: DATABASE_URL, else the SQLite file in SWARM_HOME)',
    )
    .option('--json', 'machine-readable output')
    .action(async (options: { databaseUrl?: string; json?: boolean }) => {
      const config = loadConfig(io.env, io.cwd);
      const [{ openKeyring, rotateMasterKey }, { Store }] = await Promise.all([
        import('../../secrets/index.js'),
        import('../../storage/index.js'),
      ]);
      const keyring = openKeyring(config, { warn: (message) => io.err(message) });
      const store = await Store.open(options.databaseUrl ?? config.databaseUrl, {
        cwd: io.cwd,
        migrate: false,
      });
      let report: RotationReport;
      try {
        report = await rotateMasterKey(store, keyring);
      } finally {
        await store.close();
      }
      if (options.json) return io.out(JSON.stringify(report));
      printRotation(io, report);
    });
}

function printRotation(io: CliIo, report: RotationReport): void {
  const where = report.keySource === 'file' ? `key file ${report.keys}` : report.keys;
  io.out(
    `re-encrypted ${report.reencrypted} secret${report.reencrypted === 1 ? '' : 's'} under master key version ${report.version}` +
      ` (${report.added ? 'new, ' : ''}${where}); ${report.alreadyCurrent} already used it` +
      (report.resealed > 0
        ? `; resealed ${report.resealed} webhook signing secret${report.resealed === 1 ? '' : 's'}`
        : ''),
  );
  io.out(
    formatTable(
      ['VERSION', 'SECRETS', 'CONFIGURED'],
      report.versions.map((v) => [
        v.version === 0 ? '0 (legacy)' : v.version,
        v.secrets,
        v.configured ? 'yes' : 'no',
      ]),
    ),
  );
  if (report.removedVersions.length > 0)
    io.out(
      `removed from the key file (no secret uses them): ${report.removedVersions.map((v) => `v${v}`).join(', ')}`,
    );
  if (report.keySource !== 'file') {
    const unused = report.versions.filter(
      (v) => v.configured && v.secrets === 0 && v.version !== report.version,
    );
    if (unused.length > 0)
      io.out(
        `no secret uses ${unused.map((v) => `v${v.version}`).join(', ')} any more: it can go from ${report.keys}`,
      );
  }
  if (report.legacy > 0)
    io.err(
      `warning: ${report.legacy} legacy secret(s) (key version 0) cannot be decrypted or re-encrypted: set them again`,
    );
  if (report.changedMeanwhile > 0)
    io.err(
      `warning: ${report.changedMeanwhile} secret(s) changed while rotating and kept their new value; run rotate-key again to be sure`,
    );
}
