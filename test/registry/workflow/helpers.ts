import semver from 'semver';
import type { AgentResolver, JsonSchema, ResolvedAgent } from '../../../src/registry/types.js';
import { validateWorkflow, type NormalizedWorkflow } from '../../../src/registry/workflow/index.js';
import type { FieldIssue } from '../../../src/errors/index.js';

/** An AgentResolver over a fixed list of agents: the registry's answers without a database. */
export class ListResolver implements AgentResolver {
  readonly calls: string[] = [];
  constructor(private readonly agents: readonly ResolvedAgent[]) {}

  resolve(name: string, range: string): Promise<ResolvedAgent | null> {
    this.calls.push(`resolve ${name}@${range}`);
    const matching = this.agents.filter((a) => a.name === name && semver.satisfies(a.version, range));
    const best = matching.sort((a, b) => semver.rcompare(a.version, b.version))[0];
    return Promise.resolve(best ?? null);
  }
  hasCapability(capability: string): Promise<boolean> {
    this.calls.push(`capability ${capability}`);
    return Promise.resolve(this.agents.some((a) => a.capabilities.includes(capability)));
  }
  exists(name: string): Promise<boolean> {
    this.calls.push(`exists ${name}`);
    return Promise.resolve(this.agents.some((a) => a.name === name));
  }
}

export function agent(
  name: string,
  version: string,
  more: { capabilities?: string[]; input_schema?: JsonSchema } = {},
): ResolvedAgent {
  return {
    name,
    version,
    capabilities: more.capabilities ?? [],
    ...(more.input_schema ? { input_schema: more.input_schema } : {}),
  };
}

/** The agents most tests use. */
export const resolver = new ListResolver([
  agent('fetcher', '1.0.0', { capabilities: ['data:fetch'] }),
  agent('fetcher', '1.4.2', { capabilities: ['data:fetch'] }),
  agent('summarize', '1.2.0', {
    capabilities: ['text:summarize'],
    input_schema: {
      type: 'object',
      required: ['text'],
      properties: { text: { type: 'string' }, max_words: { type: 'integer', minimum: 1 } },
    },
  }),
  agent('mailer', '1.0.0', {
    input_schema: {
      type: 'object',
      required: ['to', 'options'],
      additionalProperties: false,
      properties: {
        to: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
        options: { type: 'object', required: ['mode'], properties: { mode: { enum: ['plain', 'html'] } } },
      },
    },
  }),
  agent('writer', '2.0.0'),
  agent('editor', '1.0.0'),
  agent('critic', '1.0.0'),
  agent('judge', '3.1.0'),
  agent('builtin/noop', '1.0.0'),
  agent('builtin/transform', '1.0.0'),
  agent('builtin/send_email', '1.0.0', { capabilities: ['email:send'] }),
  agent('builtin/http_request', '1.0.0'),
]);

export async function valid(doc: unknown): Promise<NormalizedWorkflow> {
  const result = await validateWorkflow(doc, resolver);
  if (!result.ok)
    throw new Error(
      `expected a valid workflow, got:\n${result.issues.map((i) => `${i.field}: ${i.message}`).join('\n')}`,
    );
  return result.value;
}

export async function issues(doc: unknown): Promise<readonly FieldIssue[]> {
  const result = await validateWorkflow(doc, resolver);
  if (result.ok) throw new Error('expected issues, the workflow is valid');
  return result.issues;
}

/** The defaults every step gets when the definition says nothing. */
export const DEFAULTS = {
  retry: {
    max_attempts: 1,
    backoff: 'exponential',
    initial_delay_ms: 1000,
    max_delay_ms: 60000,
    jitter: true,
  },
  priority: 5,
} as const;
