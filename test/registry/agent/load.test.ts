import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError, type SwarmError } from '../../../src/errors/index.js';
import { loadAgentManifest } from '../../../src/registry/agent/index.js';
import { folderWith } from './helpers.js';

const YAML = `name: echo
version: 1.0.0
runtime:
  type: node
  entry: index.js
`;

async function failure(target: string): Promise<SwarmError> {
  const error = await loadAgentManifest(target).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InputError);
  expect((error as SwarmError).code).toBe('INPUT_INVALID');
  return error as SwarmError;
}

describe('loadAgentManifest', () => {
  it('loads a folder: manifest validated, folder and absolute file returned', async () => {
    const dir = folderWith({ 'agent.yaml': YAML, 'index.js': '' });
    const loaded = await loadAgentManifest(dir);
    expect(loaded.file).toBe(path.join(dir, 'agent.yaml'));
    expect(loaded.folder).toBe(dir);
    expect(loaded.manifest.runtime).toEqual({ type: 'node', entry: 'index.js' });
    expect(loaded.manifest.resources).toEqual({ memory_mb: 128, timeout_seconds: 300 });
  });

  it('loads a manifest file directly, YAML or JSON, resolving entry next to it', async () => {
    const dir = folderWith({
      'agent.yml': YAML,
      'index.js': '',
      'other.json': JSON.stringify({
        name: 'x',
        version: '1.0.0',
        runtime: { type: 'builtin', name: 'noop' },
      }),
    });
    expect((await loadAgentManifest(path.join(dir, 'agent.yml'))).folder).toBe(dir);
    // No code to run, so no folder to package.
    const json = await loadAgentManifest(path.join(dir, 'other.json'));
    expect(json).toMatchObject({ folder: null, file: path.join(dir, 'other.json'), manifest: { name: 'x' } });
  });

  it('a missing path is an InputError naming it', async () => {
    const missing = path.join(folderWith(), 'nope');
    const error = await failure(missing);
    expect(error.message).toContain(missing);
    expect(error.message).toContain('no such file or folder');
  });

  it('a folder without a manifest, or with two, is refused', async () => {
    const empty = folderWith({ 'index.js': '' });
    expect((await failure(empty)).message).toContain('folder has no agent.yaml, agent.yml, agent.json');
    const two = folderWith({ 'agent.yaml': YAML, 'agent.json': '{}' });
    expect((await failure(two)).message).toContain('several manifests (agent.yaml, agent.json)');
  });

  it('a file that is not YAML or JSON is refused', async () => {
    const dir = folderWith({ 'agent.txt': YAML });
    expect((await failure(path.join(dir, 'agent.txt'))).message).toContain('is not a manifest file');
  });

  it('a YAML syntax error names the file and the line', async () => {
    const dir = folderWith({
      'agent.yaml': 'name: echo\nversion: 1.0.0\nruntime: [unclosed\n  type: node\n',
    });
    const error = await failure(dir);
    expect(error.message).toContain(path.join(dir, 'agent.yaml'));
    expect(error.message).toMatch(/invalid YAML at line \d+/);
  });

  it('an entry escaping the folder is refused, naming the file and the field', async () => {
    const dir = folderWith({ 'agent.yaml': YAML.replace('index.js', '../x.js') });
    const error = await failure(dir);
    expect(error.message).toBe(
      `invalid agent manifest ${path.join(dir, 'agent.yaml')}: runtime.entry: "../x.js" escapes the agent's folder (normalised: "../x.js"); it must stay inside it`,
    );
    expect(error.issues).toEqual([
      { field: 'runtime.entry', message: expect.stringContaining('escapes') as unknown },
    ]);
  });

  it('a missing entry file is refused', async () => {
    const dir = folderWith({ 'agent.yaml': YAML });
    const error = await failure(dir);
    expect(error.issues).toEqual([
      { field: 'runtime.entry', message: `file not found: ${path.join(dir, 'index.js')}` },
    ]);
  });

  it('carries every issue, and says how many more there are', async () => {
    const dir = folderWith({
      'agent.yaml': 'name: Bad\nversion: "1"\nruntime: {type: node, entry: main.js}\n',
    });
    const error = await failure(dir);
    expect(error.issues.map((i) => i.field)).toEqual(['name', 'version', 'runtime.entry']);
    expect(error.message).toMatch(/: name: .* \(and 2 more\)$/);
  });

  it('an empty manifest file is reported as such', async () => {
    const dir = folderWith({ 'agent.yaml': '' });
    expect((await failure(dir)).issues).toEqual([
      { field: 'manifest', message: 'must be an object (a YAML mapping), got null' },
    ]);
  });
});
