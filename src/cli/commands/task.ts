import type { Command } from 'commander';
import { InputError, SwarmError } from '../../errors/index.js';
import type { ScheduledTaskView, ScheduleTaskInput, SubmitTask, TaskView } from '../../tasks/index.js';
import { ApiClient } from '../client.js';
import { formatTable, readJsonOption, type CliIo } from '../io.js';

interface SubmitOptions {
  agent?: string;
  capability?: string;
  type?: string;
  input?: string;
  priority?: string;
  timeout?: string;
  maxRetries?: string;
  expiresAt?: string;
  template?: string;
  dependsOn?: string[];
  idempotencyKey?: string;
  wait?: boolean;
  json?: boolean;
}

function integer(raw: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!/^-?\d+$/.test(raw.trim()) || value < min || value > max)
    throw new InputError(flag, `an integer from ${min} to ${max}, got "${raw}"`);
  return value;
}

/** The request body of `swarm task submit`: every flag checked here, named as typed. */
export function submitBody(options: SubmitOptions, cwd: string): SubmitTask {
  if (options.agent !== undefined && options.capability !== undefined)
    throw new InputError('--capability', 'give --agent or --capability, not both');
  if (options.agent === undefined && options.capability === undefined && options.template === undefined)
    throw new InputError('--agent', 'give --agent NAME[@VERSION], --capability C or --template NAME');
  if (options.expiresAt !== undefined && Number.isNaN(Date.parse(options.expiresAt)))
    throw new InputError('--expires-at', `an ISO-8601 timestamp, got "${options.expiresAt}"`);
  const priority = integer(options.priority, '--priority', 1, 10);
  const timeout = integer(options.timeout, '--timeout', 1, 86_400);
  const maxRetries = integer(options.maxRetries, '--max-retries', 0, 100);
  return {
    ...(options.agent === undefined ? {} : { agent: options.agent }),
    ...(options.capability === undefined ? {} : { capability: options.capability }),
    ...(options.type === undefined ? {} : { type: options.type }),
    ...(options.input === undefined ? {} : { input: readJsonOption(options.input, '--input', cwd) }),
    ...(priority === undefined ? {} : { priority }),
    ...(timeout === undefined ? {} : { timeout_seconds: timeout }),
    ...(maxRetries === undefined ? {} : { max_retries: maxRetries }),
    ...(options.expiresAt === undefined ? {} : { expires_at: options.expiresAt }),
    ...(options.template === undefined ? {} : { template: options.template }),
    ...(options.dependsOn === undefined ? {} : { depends_on: options.dependsOn }),
    ...(options.idempotencyKey === undefined ? {} : { idempotency_key: options.idempotencyKey }),
  };
}

function isEnded(task: TaskView, ended: readonly string[]): boolean {
  return ended.includes(task.status);
}

function summary(task: TaskView): string {
  const target = task.agent ?? `capability ${task.capability ?? '?'}`;
  const blocked = task.is_blocked ? ` (waiting for ${task.blocked_by.join(', ')})` : '';
  return `${task.id} ${target} — ${task.status}${blocked}, attempt ${task.attempts}/${task.max_retries + 1}${task.error ? `: ${task.error}` : ''}`;
}

export function registerTaskCommands(program: Command, io: CliIo): void {
  const client = () => ApiClient.forCli(io);
  const task = program.command('task').description('Submit and manage standalone tasks');

  task
    .command('submit')
    .description('Submit a task for an agent or a capability; with --wait, exit 0 only if it completed')
    .option('-a, --agent <name[@version]>', 'the agent to run (its latest usable version without @version)')
    .option('-c, --capability <capability>', 'any agent offering this capability')
    .option('-t, --type <type>', 'the task type (default: task)')
    .option('-i, --input <json|@file>', 'the input, as JSON or @file.json')
    .option('-p, --priority <n>', '1 (lowest) to 10 (default 5)')
    .option('--timeout <seconds>', 'time limit of one attempt')
    .option('--max-retries <n>', 'retries after the first attempt (default 3)')
    .option('--expires-at <iso>', 'not started after this moment: then it ends EXPIRED')
    .option('--template <name>', "a template's defaults (flags given here win)")
    .option('--depends-on <id...>', 'tasks that must complete first')
    .option('--idempotency-key <key>', 'submitting again with this key returns the same task')
    .option('-w, --wait', 'wait until the task ends')
    .option('--json', 'machine-readable output (the task)')
    .action(async (options: SubmitOptions) => {
      const body = submitBody(options, io.cwd);
      const api = client();
      let current = await api.request<TaskView>('POST', '/api/v1/tasks', body);
      if (!options.wait) return io.out(options.json ? JSON.stringify(current) : current.id);
      if (!options.json) io.out(`task ${current.id} submitted`);
      // Loaded for --wait only: the tasks part is the server's, heavy for a CLI start.
      const { ENDED_TASK_STATUSES } = await import('../../tasks/index.js');
      while (!isEnded(current, ENDED_TASK_STATUSES)) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        current = await api.request<TaskView>('GET', `/api/v1/tasks/${encodeURIComponent(current.id)}`);
      }
      if (options.json) io.out(JSON.stringify(current));
      else
        io.out(
          `${current.status}${current.duration_ms === null ? '' : ` in ${current.duration_ms} ms`}${
            current.status === 'COMPLETED' ? `: ${JSON.stringify(current.result)}` : ''
          }`,
        );
      if (current.status !== 'COMPLETED')
        throw new SwarmError(
          'TASK_NOT_COMPLETED',
          `task ${current.id} ended ${current.status}${current.error ? `: ${current.error}` : ''}`,
        );
    });

  task
    .command('show')
    .description('One task: status, attempts, result or error')
    .argument('<id>', 'the task id')
    .option('--json', 'machine-readable output')
    .action(async (id: string, options: { json?: boolean }) => {
      const found = await client().request<TaskView>('GET', `/api/v1/tasks/${encodeURIComponent(id)}`);
      if (options.json) return io.out(JSON.stringify(found));
      io.out(summary(found));
      io.out(`  type ${found.type}, priority ${found.priority}, created ${found.created_at}`);
      if (found.completed_at !== null) io.out(`  ended ${found.completed_at}`);
      if (found.result !== null) io.out(`  result ${JSON.stringify(found.result)}`);
    });

  task
    .command('list')
    .description('Your standalone tasks, newest first')
    .option('--status <status>', 'PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, EXPIRED')
    .option('--capability <capability>', 'only tasks for this capability')
    .option('--limit <n>', 'at most this many (1–999)', '50')
    .option('--json', 'machine-readable output')
    .action(async (options: { status?: string; capability?: string; limit: string; json?: boolean }) => {
      const params = new URLSearchParams({ limit: options.limit });
      if (options.status) params.set('status', options.status.toUpperCase());
      if (options.capability) params.set('capability', options.capability);
      const { items } = await client().request<{ items: TaskView[] }>('GET', `/api/v1/tasks?${params}`);
      if (options.json) return io.out(JSON.stringify(items));
      io.out(
        formatTable(
          ['ID', 'AGENT / CAPABILITY', 'TYPE', 'STATUS', 'PRIORITY', 'ATTEMPTS', 'CREATED'],
          items.map((t) => [
            t.id,
            t.agent ?? t.capability ?? '-',
            t.type,
            t.status,
            t.priority,
            t.attempts,
            t.created_at,
          ]),
        ),
      );
    });

  task
    .command('schedule')
    .description('Submit a task with this capability on a cron schedule (one task per tick)')
    .argument('<name>', 'a name for the schedule')
    .requiredOption('--cron <expression>', '5 fields (minute first), 6 (seconds first) or @daily etc.')
    .requiredOption('-c, --capability <capability>', 'the capability each task asks for')
    .option('-i, --input <json|@file>', 'the input, as JSON or @file.json (an object gets scheduled_for)')
    .option('--timezone <zone>', 'IANA time zone of the expression (default UTC)')
    .option('--misfire <policy>', 'ticks missed while no scheduler ran: skip (default) or catch_up')
    .option('--catch-up-limit <n>', 'with catch_up: how many missed ticks fire (1–1000, default 10)')
    .option('-t, --type <type>', 'the task type (default: task)')
    .option('-p, --priority <n>', '1 (lowest) to 10 (default 5)')
    .option('--timeout <seconds>', 'time limit of one attempt (default 300)')
    .option('--json', 'machine-readable output')
    .action(
      async (
        name: string,
        options: {
          cron: string;
          capability: string;
          input?: string;
          timezone?: string;
          misfire?: string;
          catchUpLimit?: string;
          type?: string;
          priority?: string;
          timeout?: string;
          json?: boolean;
        },
      ) => {
        if (options.misfire !== undefined && !['skip', 'catch_up'].includes(options.misfire))
          throw new InputError('--misfire', `skip or catch_up, got "${options.misfire}"`);
        const priority = integer(options.priority, '--priority', 1, 10);
        const timeout = integer(options.timeout, '--timeout', 1, 86_400);
        const limit = integer(options.catchUpLimit, '--catch-up-limit', 1, 1000);
        const body: ScheduleTaskInput = {
          name,
          cron: options.cron,
          capability: options.capability,
          ...(options.input === undefined ? {} : { input: readJsonOption(options.input, '--input', io.cwd) }),
          ...(options.timezone === undefined ? {} : { timezone: options.timezone }),
          ...(options.misfire === undefined ? {} : { misfire: options.misfire as 'skip' | 'catch_up' }),
          ...(limit === undefined ? {} : { catchUpLimit: limit }),
          ...(options.type === undefined ? {} : { taskType: options.type }),
          ...(priority === undefined ? {} : { priority }),
          ...(timeout === undefined ? {} : { timeoutSeconds: timeout }),
        };
        const created = await client().request<ScheduledTaskView>('POST', '/api/v1/scheduled-tasks', body);
        if (options.json) return io.out(JSON.stringify(created));
        io.out(`scheduled ${created.name} (${created.id}): ${created.cron} ${created.timezone}`);
        io.out(`  next ${created.nextRunAt ?? 'never'}`);
      },
    );

  task
    .command('schedules')
    .description('Your scheduled tasks, with their next tick and counters')
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }) => {
      const { items } = await client().request<{ items: ScheduledTaskView[] }>(
        'GET',
        '/api/v1/scheduled-tasks',
      );
      if (options.json) return io.out(JSON.stringify(items));
      if (items.length === 0) return io.out('no scheduled tasks');
      io.out(
        formatTable(
          ['ID', 'NAME', 'CRON', 'TIMEZONE', 'CAPABILITY', 'ACTIVE', 'NEXT', 'RUNS', 'OK', 'FAILED'],
          items.map((s) => [
            s.id,
            s.name,
            s.cron,
            s.timezone,
            s.capability,
            s.active ? 'yes' : 'no',
            s.nextRunAt ?? '-',
            s.totalRuns,
            s.successfulRuns,
            s.failedRuns,
          ]),
        ),
      );
    });

  task
    .command('unschedule')
    .description('Remove a scheduled task (the tasks it submitted stay)')
    .argument('<id>', 'its id (or name)')
    .action(async (id: string) => {
      await client().request('DELETE', `/api/v1/scheduled-tasks/${encodeURIComponent(id)}`);
      io.out(`removed scheduled task ${id}`);
    });

  task
    .command('cancel')
    .description('Cancel a waiting or running task')
    .argument('<id>', 'the task id')
    .option('--reason <text>', 'recorded with the cancellation')
    .option('--json', 'machine-readable output')
    .action(async (id: string, options: { reason?: string; json?: boolean }) => {
      const cancelled = await client().request<TaskView>(
        'POST',
        `/api/v1/tasks/${encodeURIComponent(id)}/cancel`,
        options.reason === undefined ? {} : { reason: options.reason },
      );
      io.out(options.json ? JSON.stringify(cancelled) : `${cancelled.id}: ${cancelled.status}`);
    });
}
