import type { Command } from 'commander';
import { InputError } from '../../errors/index.js';
import { ApiClient } from '../client.js';
import { formatTable, type CliIo } from '../io.js';

interface BudgetView {
  readonly period: string;
  readonly tokens: number | null;
  readonly costUsd: number | null;
  readonly since: string;
  readonly spent: { readonly tokens: number; readonly costUsd: number };
}

const PERIODS = ['day', 'month'];

function period(value: string): string {
  if (!PERIODS.includes(value)) throw new InputError('PERIOD', `must be day or month, got "${value}"`);
  return value;
}

/** A whole number ≥ 1 (`--tokens`) or a positive amount (`--cost-usd`), named in the error. */
function positive(flag: string, text: string, whole: boolean): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0 || (whole && !Number.isInteger(value)))
    throw new InputError(
      flag,
      `must be ${whole ? 'a whole number from 1' : 'an amount above 0'}, got "${text}"`,
    );
  return value;
}

/** `swarm budgets`: caps on what model calls spend per UTC day and month. */
export function registerBudgetCommands(program: Command, io: CliIo): void {
  const budgets = program
    .command('budgets')
    .description('Your caps on model calls per UTC day and month (a call past one is not made)');
  const client = () => ApiClient.forCli(io);

  budgets
    .command('list')
    .description('Your budgets, with what this period has spent')
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }) => {
      const { items } = await client().request<{ items: BudgetView[] }>('GET', '/api/v1/budgets');
      if (options.json) return io.out(JSON.stringify(items));
      if (items.length === 0) return io.out('no budgets');
      io.out(
        formatTable(
          ['PERIOD', 'TOKENS', 'SPENT TOKENS', 'COST USD', 'SPENT USD', 'SINCE'],
          items.map((b) => [
            b.period,
            b.tokens ?? '-',
            b.spent.tokens,
            b.costUsd ?? '-',
            b.spent.costUsd,
            b.since,
          ]),
        ),
      );
    });

  budgets
    .command('set')
    .description('Set your budget for a day or a month: --tokens, --cost-usd, or both')
    .argument('<PERIOD>', 'day or month (UTC)')
    .option('--tokens <n>', 'most tokens in the period')
    .option('--cost-usd <amount>', 'most US dollars in the period')
    .action(async (name: string, options: { tokens?: string; costUsd?: string }) => {
      const which = period(name);
      if (options.tokens === undefined && options.costUsd === undefined)
        throw new InputError('--tokens', 'give --tokens, --cost-usd or both');
      const body = {
        ...(options.tokens === undefined ? {} : { tokens: positive('--tokens', options.tokens, true) }),
        ...(options.costUsd === undefined
          ? {}
          : { cost_usd: positive('--cost-usd', options.costUsd, false) }),
      };
      const set = await client().request<BudgetView>('PUT', `/api/v1/budgets/${which}`, body);
      io.out(
        `budget per ${set.period}: ${set.tokens === null ? 'no token cap' : `${set.tokens} tokens`}, ${
          set.costUsd === null ? 'no cost cap' : `$${set.costUsd}`
        } (spent so far: ${set.spent.tokens} tokens, $${set.spent.costUsd})`,
      );
    });

  budgets
    .command('rm')
    .description('Remove your budget for a day or a month')
    .argument('<PERIOD>', 'day or month')
    .action(async (name: string) => {
      await client().request('DELETE', `/api/v1/budgets/${period(name)}`);
      io.out(`removed the ${name} budget`);
    });
}
