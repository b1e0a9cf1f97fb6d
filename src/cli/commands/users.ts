import type { Command } from 'commander';
import { InputError } from '../../errors/index.js';
import type { User } from '../../storage/index.js';
import { ApiClient } from '../client.js';
import { formatTable, type CliIo } from '../io.js';

/** The roles (src/storage/migrations/0013-people.ts), repeated so the CLI loads no storage code. */
const ROLES = ['admin', 'member', 'viewer'];
const MIN_PASSWORD = 12;

/** Everything on standard input, less one final newline (`echo pw | swarm users create … --password-stdin`). */
async function readPassword(io: CliIo): Promise<string> {
  const input = io.stdin ?? process.stdin;
  const chunks: Buffer[] = [];
  for await (const chunk of input) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  const password = Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
  if (password.length < MIN_PASSWORD)
    throw new InputError('--password-stdin', `the password must be ${MIN_PASSWORD} characters at least`);
  return password;
}

function checkRole(role: string, field: string): void {
  if (!ROLES.includes(role)) throw new InputError(field, `must be one of ${ROLES.join(', ')}, got "${role}"`);
}

function describe(user: User): string {
  return `${user.email} (${user.role}${user.status === 'disabled' ? ', disabled' : ''}, id ${user.id})`;
}

function printPassword(io: CliIo, password: string | undefined): void {
  if (password === undefined) return;
  io.out('Its password, shown once (give it to the user; they sign in with it):');
  io.out(`  ${password}`);
}

const userPath = (ref: string) => `/api/v1/users/${encodeURIComponent(ref)}`;

export function registerUserCommands(program: Command, io: CliIo): void {
  const users = program
    .command('users')
    .description('Manage users (admins only): create, list, roles, passwords');
  const client = () => ApiClient.forCli(io);

  users
    .command('create')
    .description('Create a user; without --password-stdin a password is generated and printed once')
    .requiredOption('--email <email>', 'their email, which they sign in with (unique)')
    .requiredOption('--name <name>', 'their name')
    .option('--role <role>', `one of ${ROLES.join(', ')}`, 'member')
    .option('--password-stdin', `read the password (${MIN_PASSWORD} characters at least) from standard input`)
    .option('--json', 'machine-readable output (with the generated password)')
    .action(
      async (options: {
        email: string;
        name: string;
        role: string;
        passwordStdin?: boolean;
        json?: boolean;
      }) => {
        checkRole(options.role, '--role');
        const password = options.passwordStdin ? await readPassword(io) : undefined;
        const result = await client().request<{ user: User; password?: string }>('POST', '/api/v1/users', {
          email: options.email,
          name: options.name,
          role: options.role,
          ...(password === undefined ? {} : { password }),
        });
        if (options.json) return io.out(JSON.stringify(result));
        io.out(`created user ${describe(result.user)}`);
        printPassword(io, result.password);
      },
    );

  users
    .command('list')
    .description('Every user')
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }) => {
      const { items } = await client().request<{ items: User[] }>('GET', '/api/v1/users');
      if (options.json) return io.out(JSON.stringify(items));
      io.out(
        formatTable(
          ['ID', 'EMAIL', 'NAME', 'ROLE', 'STATUS', 'LAST SIGNED IN'],
          items.map((u) => [u.id, u.email, u.name, u.role, u.status, u.lastSignedInAt ?? '-']),
        ),
      );
    });

  users
    .command('show')
    .description('One user')
    .argument('<user>', 'id or email')
    .option('--json', 'machine-readable output')
    .action(async (ref: string, options: { json?: boolean }) => {
      const user = await client().request<User>('GET', userPath(ref));
      if (options.json) return io.out(JSON.stringify(user));
      io.out(
        formatTable(
          ['FIELD', 'VALUE'],
          [
            ['id', user.id],
            ['email', user.email],
            ['name', user.name],
            ['role', user.role],
            ['status', user.status],
            ['grants', user.grants.length === 0 ? '-' : user.grants.join(', ')],
            ['last signed in', user.lastSignedInAt ?? '-'],
            ['created', user.createdAt],
            ['updated', user.updatedAt],
          ],
        ),
      );
    });

  users
    .command('set-role')
    .description("Change a user's role")
    .argument('<user>', 'id or email')
    .argument('<role>', ROLES.join(', '))
    .action(async (ref: string, role: string) => {
      checkRole(role, '<role>');
      const user = await client().request<User>('PATCH', userPath(ref), { role });
      io.out(`${user.email} is now ${user.role}`);
    });

  for (const [command, status, description] of [
    ['disable', 'disabled', 'Disable a user: its sessions end, its API keys stop working, it cannot sign in'],
    ['enable', 'active', 'Enable a disabled user again (its keys work again; it signs in anew)'],
  ] as const) {
    users
      .command(command)
      .description(description)
      .argument('<user>', 'id or email')
      .action(async (ref: string) => {
        const user = await client().request<User>('PATCH', userPath(ref), { status });
        io.out(`${command}d ${describe(user)}`);
      });
  }

  users
    .command('reset-password')
    .description(
      "Set a user's password (generated and printed once, or read with --password-stdin); its sessions end",
    )
    .argument('<user>', 'id or email')
    .option('--password-stdin', `read the password (${MIN_PASSWORD} characters at least) from standard input`)
    .action(async (ref: string, options: { passwordStdin?: boolean }) => {
      const password = options.passwordStdin ? await readPassword(io) : undefined;
      const result = await client().request<{ user: User; password?: string }>(
        'POST',
        `${userPath(ref)}/password`,
        password === undefined ? {} : { password },
      );
      io.out(`set a new password for ${describe(result.user)}; its sessions ended`);
      printPassword(io, result.password);
    });
}
