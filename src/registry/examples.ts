import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Caller } from '../storage/index.js';
import { loadAgentManifest } from './agent/index.js';
import { formatOf, parseDocument } from './document.js';
import type { Registry } from './registry.js';

/** The examples shipped with Swarm: `examples/` at the package root (from src/ or dist/). */
export const EXAMPLES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../examples');

export interface ExamplesReport {
  readonly agents: string[];
  readonly workflows: string[];
  /** Why none were registered: the examples lie outside the agents folders (SWARM_AGENTS_DIRS). */
  readonly skipped?: string;
}

/**
 * Registers every example agent (examples/agents/<name>/) and applies every example workflow
 * (examples/workflows/*.yaml|json) for `caller`. Agents first: workflows are checked against them.
 */
export async function registerExamples(
  registry: Registry,
  caller: Caller,
  dir: string = EXAMPLES_DIR,
): Promise<ExamplesReport> {
  const { agents, workflows } = registry.as(caller);
  const report: ExamplesReport = { agents: [], workflows: [] };
  const agentsDir = path.join(dir, 'agents');
  // All or nothing: the example workflows need the example agents, whose code is in `dir`.
  if (fs.existsSync(agentsDir) && !(await registry.allowsCodeFrom(agentsDir)))
    return {
      ...report,
      skipped: `the examples were not registered: ${agentsDir} is outside the agents folders (SWARM_AGENTS_DIRS)`,
    };
  for (const entry of fs.existsSync(agentsDir) ? fs.readdirSync(agentsDir).sort() : []) {
    const { manifest, folder } = await loadAgentManifest(path.join(agentsDir, entry));
    const { agent } = await agents.register(manifest, folder === null ? {} : { path: folder });
    report.agents.push(`${agent.name}@${agent.version}`);
  }
  const workflowsDir = path.join(dir, 'workflows');
  for (const entry of fs.existsSync(workflowsDir) ? fs.readdirSync(workflowsDir).sort() : []) {
    const format = formatOf(entry);
    if (format === null) continue;
    const file = path.join(workflowsDir, entry);
    const { workflow } = await workflows.apply(parseDocument(fs.readFileSync(file, 'utf8'), format, file));
    report.workflows.push(`${workflow.name}@${workflow.version}`);
  }
  return report;
}
