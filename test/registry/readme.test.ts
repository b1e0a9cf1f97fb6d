import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BUILTIN_AGENTS,
  EXAMPLES_DIR,
  loadAgentManifest,
  parseDocument,
  validateAgentManifest,
  validateWorkflow,
} from '../../src/registry/index.js';
import { ListResolver } from './workflow/helpers.js';

const readme = fs.readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const yamlBlocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);

describe('the README', () => {
  it('shows a manifest and a workflow that are valid as written', async () => {
    const manifest = yamlBlocks.find((b) => b.includes('runtime:'));
    const workflow = yamlBlocks.find((b) => b.includes('steps:'));
    expect(manifest && workflow).toBeTruthy();
    const agentResult = validateAgentManifest(parseDocument(manifest!, 'yaml', 'README'));
    expect(agentResult.ok ? [] : agentResult.issues).toEqual([]);

    const examples = await Promise.all(
      fs
        .readdirSync(path.join(EXAMPLES_DIR, 'agents'))
        .map((name) => loadAgentManifest(path.join(EXAMPLES_DIR, 'agents', name))),
    );
    const resolver = new ListResolver(
      [...examples.map((e) => e.manifest), ...BUILTIN_AGENTS].map((m) => ({
        name: m.name,
        version: m.version,
        capabilities: m.capabilities,
        ...(m.input_schema ? { input_schema: m.input_schema } : {}),
      })),
    );
    const result = await validateWorkflow(parseDocument(workflow!, 'yaml', 'README'), resolver);
    expect(result.ok ? [] : result.issues).toEqual([]);
  });

  it('shows the example files it names as they are', () => {
    const named = yamlBlocks.filter((b) => b.startsWith('# examples/'));
    expect(named.length).toBeGreaterThanOrEqual(2);
    for (const block of named) {
      const file = block.slice(2, block.indexOf('\n')).trim();
      const onDisk = fs.readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
      expect(parseDocument(block, 'yaml', 'README'), file).toEqual(parseDocument(onDisk, 'yaml', file));
    }
  });
});
