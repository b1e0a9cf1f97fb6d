import { Command, CommanderError } from 'commander';
import { isSwarmError } from '../errors/index.js';
// Not the server's index: its modules load only for the commands that run a server.
import { SWARM_VERSION } from '../version/index.js';
import { registerAgentCommands } from './commands/agent.js';
import { registerAuditCommands } from './commands/audit.js';
import { registerHistoryCommands } from './commands/history.js';
import { registerTemplateCommands } from './commands/templates.js';
import { registerCredentialCommands } from './commands/credentials.js';
import { registerDbCommands } from './commands/db.js';
import { registerImportRegistry } from './commands/import-registry.js';
import { registerKeyCommands } from './commands/keys.js';
import { registerLlmCommands } from './commands/llm.js';
import { registerMcpCommands } from './commands/mcp.js';
import { registerStart } from './commands/start.js';
import { registerTaskCommands } from './commands/task.js';
import { registerTriggerCommands } from './commands/triggers.js';
import { registerEventCommands } from './commands/events.js';
import { registerRunCommands } from './commands/run.js';
import { registerSecretCommands } from './commands/secrets.js';
import { registerAlertCommands } from './commands/alerts.js';
import { registerConnectorCommands } from './commands/connectors.js';
import { registerApprovalCommands } from './commands/approvals.js';
import { registerBudgetCommands } from './commands/budgets.js';
import { registerWebhookCommands } from './commands/webhooks.js';
import { registerUserCommands } from './commands/users.js';
import { registerWorker } from './commands/worker.js';
import { registerWorkflowCommands } from './commands/workflow.js';
import { processIo, type CliIo } from './io.js';

/** Exit codes: 0 success, 1 a failed operation, 2 a usage error. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export function buildProgram(given: CliIo): Command {
  // `--credential` reaches the commands as SWARM_CREDENTIAL, in a copy of the environment.
  const env: NodeJS.ProcessEnv = { ...given.env };
  const io: CliIo = { ...given, env };
  const program = new Command('swarm')
    .description('Swarm: run swarms of agents — registry, workflows, triggers, a durable task queue')
    .version(SWARM_VERSION, '-V, --version')
    // Its own options (--credential, --version) come before the command, so a command may have a
    // `--version` of its own (`runs fork --version`, a workflow version).
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s),
      writeErr: (s) => io.err(s),
      outputError: (s, write) => write(`swarm: ${s.replace(/^error: /, '')}`),
    })
    .showSuggestionAfterError()
    .option(
      '--credential <name>',
      'the saved credential to use, by name, database or server URL (default: SWARM_CREDENTIAL; see `swarm credentials list`)',
    )
    .hook('preAction', () => {
      const { credential } = program.opts<{ credential?: string }>();
      if (credential !== undefined) env.SWARM_CREDENTIAL = credential;
    });
  registerStart(program, io);
  registerDbCommands(program, io);
  registerImportRegistry(program, io);
  registerAgentCommands(program, io);
  registerWorkflowCommands(program, io);
  registerWorker(program, io);
  registerRunCommands(program, io);
  registerTaskCommands(program, io);
  registerSecretCommands(program, io);
  registerBudgetCommands(program, io);
  registerAlertCommands(program, io);
  registerConnectorCommands(program, io);
  registerApprovalCommands(program, io);
  registerLlmCommands(program, io);
  registerMcpCommands(program, io);
  registerWebhookCommands(program, io);
  registerTriggerCommands(program, io);
  registerEventCommands(program, io);
  registerCredentialCommands(program, io);
  registerUserCommands(program, io);
  registerKeyCommands(program, io);
  registerAuditCommands(program, io);
  registerHistoryCommands(program, io);
  registerTemplateCommands(program, io);
  // Subcommands inherit the error handling and output settings.
  for (const command of program.commands) {
    command.exitOverride().configureOutput(program.configureOutput());
    for (const sub of command.commands) sub.exitOverride().configureOutput(program.configureOutput());
  }
  return program;
}

/** Runs the CLI and returns its exit code; errors become one line on stderr. */
export async function runCli(argv: string[], io: CliIo = processIo()): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has printed its message (or the help) already.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (isSwarmError(error)) {
      io.err(`swarm: ${oneLine(error.message)} [${error.code}]`);
      // Every problem of a definition, one per line, after the summary line.
      if (error.issues.length > 1)
        for (const issue of error.issues) io.err(`  ${issue.field}: ${oneLine(issue.message)}`);
      return EXIT.failed;
    }
    io.err(`swarm: unexpected error: ${oneLine((error as Error).message ?? String(error))}`);
    if (io.env.SWARM_DEBUG) io.err(String((error as Error).stack));
    return EXIT.failed;
  }
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
