import type { Command } from 'commander';
import { InputError } from '../../errors/index.js';
import { ApiClient } from '../client.js';
import { formatTable, type CliIo } from '../io.js';

/** The name checked here, before anything is sent; the check loads with the commands using it. */
async function checkName(name: string): Promise<void> {
  const { checkProviderName } = await import('../../runtimes/index.js');
  checkProviderName(name, 'NAME');
}

interface ProviderView {
  name: string;
  provider: string;
  model: string | null;
  baseUrl: string | null;
  apiKeySecret: string | null;
  isDefault: boolean;
  active: boolean;
  configuration: Record<string, unknown>;
}

interface SetOptions {
  provider?: string;
  model?: string;
  baseUrl?: string;
  apiKeySecret?: string;
  default?: boolean;
  inactive?: boolean;
  inputCost?: string;
  outputCost?: string;
  configuration?: string;
  json?: boolean;
}

function price(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0)
    throw new InputError(flag, `must be a number ≥ 0 (price per 1000 tokens), got "${value}"`);
  return n;
}

function configurationOf(options: SetOptions): Record<string, unknown> | undefined {
  let configuration: Record<string, unknown> | undefined;
  if (options.configuration !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(options.configuration);
    } catch {
      throw new InputError('--configuration', 'must be a JSON object');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new InputError('--configuration', 'must be a JSON object');
    configuration = parsed as Record<string, unknown>;
  }
  const input = price(options.inputCost, '--input-cost');
  const output = price(options.outputCost, '--output-cost');
  if (input === undefined && output === undefined) return configuration;
  return {
    ...configuration,
    ...(input === undefined ? {} : { input_cost_per_1k: input }),
    ...(output === undefined ? {} : { output_cost_per_1k: output }),
  };
}

/** `swarm llm providers set|list|rm`. */
export function registerLlmCommands(program: Command, io: CliIo): void {
  const llm = program.command('llm').description('LLM agents: providers (OpenAI, Anthropic, Ollama, custom)');
  const providers = llm
    .command('providers')
    .description('LLM providers: where llm agents send their calls, with the secret holding the API key');
  const client = () => ApiClient.forCli(io);

  providers
    .command('set')
    .description(
      'Create or replace a provider (the API key is a secret: set it first with `swarm secrets set`)',
    )
    .argument('<NAME>', 'what agents name in runtime.provider (lower-case letters, digits, . _ -)')
    .requiredOption('--provider <kind>', 'openai, anthropic, ollama or custom (OpenAI-compatible)')
    .option('--model <model>', 'the model used when an agent names none')
    .option(
      '--base-url <url>',
      "the server's root URL (required for custom; default: the provider's public API)",
    )
    .option('--api-key-secret <SECRET>', 'the NAME of the global secret holding the API key')
    .option('--default', 'make it the default provider')
    .option('--inactive', 'keep it, but refuse calls')
    .option('--input-cost <price>', 'price per 1000 input tokens, for costs')
    .option('--output-cost <price>', 'price per 1000 output tokens, for costs')
    .option('--configuration <json>', 'the whole configuration as a JSON object')
    .option('--json', 'machine-readable output')
    .action(async (name: string, options: SetOptions) => {
      await checkName(name);
      const configuration = configurationOf(options);
      const body = {
        provider: options.provider,
        ...(options.model === undefined ? {} : { model: options.model }),
        ...(options.baseUrl === undefined ? {} : { base_url: options.baseUrl }),
        ...(options.apiKeySecret === undefined ? {} : { api_key_secret: options.apiKeySecret }),
        ...(options.default ? { is_default: true } : {}),
        ...(options.inactive ? { active: false } : {}),
        ...(configuration === undefined ? {} : { configuration }),
      };
      const result = await client().request<{ created: boolean; provider: ProviderView }>(
        'PUT',
        `/api/v1/llm-providers/${encodeURIComponent(name)}`,
        body,
      );
      if (options.json) return io.out(JSON.stringify(result));
      const p = result.provider;
      io.out(
        `${result.created ? 'created' : 'updated'} LLM provider ${p.name} (${p.provider}${p.model === null ? '' : `, model ${p.model}`}${p.apiKeySecret === null ? '' : `, key in secret ${p.apiKeySecret}`})`,
      );
    });

  providers
    .command('list')
    .description('Your LLM providers (keys are never shown: only the secret that holds each)')
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }) => {
      const { items } = await client().request<{ items: ProviderView[] }>('GET', '/api/v1/llm-providers');
      if (options.json) return io.out(JSON.stringify(items));
      if (items.length === 0) return io.out('no LLM providers');
      io.out(
        formatTable(
          ['NAME', 'PROVIDER', 'MODEL', 'BASE URL', 'KEY SECRET', 'DEFAULT', 'ACTIVE'],
          items.map((p) => [
            p.name,
            p.provider,
            p.model ?? '-',
            p.baseUrl ?? '(public API)',
            p.apiKeySecret ?? '-',
            p.isDefault ? 'yes' : '',
            p.active ? 'yes' : 'no',
          ]),
        ),
      );
    });

  providers
    .command('rm')
    .description('Remove a provider (the secret holding its key stays)')
    .argument('<NAME>', 'the provider')
    .action(async (name: string) => {
      await checkName(name);
      await client().request('DELETE', `/api/v1/llm-providers/${encodeURIComponent(name)}`);
      io.out(`removed LLM provider ${name}`);
    });

  // run.ts passes error handling down two levels; these commands sit three deep.
  for (const sub of providers.commands) sub.exitOverride().configureOutput(program.configureOutput());
}
