/**
 * Reading an agent from disk: `swarm agent register ./my-agent` and the examples. A folder holds
 * exactly one agent.yaml / agent.yml / agent.json next to the agent's code; a manifest file may
 * also be named directly. Every problem is reported at once, in an error that names the file.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { InputError, type FieldIssue } from '../../errors/index.js';
import { formatOf, parseDocument } from '../document.js';
import type { AgentManifest } from '../types.js';
import { validateAgentManifest } from './validate.js';

export const MANIFEST_FILE_NAMES = ['agent.yaml', 'agent.yml', 'agent.json'] as const;

export interface LoadedAgent {
  readonly manifest: AgentManifest;
  /**
   * The folder holding the agent's code (the manifest's folder) for node, python and binary
   * runtimes: what a worker runs `runtime.entry` from. Null for runtimes without code.
   */
  readonly folder: string | null;
  /** The absolute path of the manifest file read. */
  readonly file: string;
}

/** Loads and validates `target` (a folder or a manifest file); throws InputError on any problem. */
export async function loadAgentManifest(target: string): Promise<LoadedAgent> {
  const absolute = path.resolve(target);
  const file = await findManifest(target, absolute);
  const format = formatOf(file);
  if (format === null) {
    throw new InputError(
      target,
      'is not a manifest file: expected a .yaml, .yml or .json file or a folder holding agent.yaml',
    );
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new InputError(file, `cannot be read: ${(error as Error).message}`);
  }
  // parseDocument's errors name the file and, for YAML, the line.
  const doc = parseDocument(text, format, file);
  const dir = path.dirname(file);
  const result = validateAgentManifest(doc, { folder: dir });
  if (!result.ok) throw invalidManifest(file, result.issues);
  const folder = 'entry' in result.value.runtime ? dir : null;
  return { manifest: result.value, folder, file };
}

async function findManifest(target: string, absolute: string): Promise<string> {
  // The absolute path too when the user gave a relative one: it says where we looked.
  const where = absolute === target ? '' : ` (${absolute})`;
  const stats = await stat(absolute).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return null;
    throw new InputError(target, `cannot be read: ${error.message}`);
  });
  if (stats === null) throw new InputError(target, `no such file or folder${where}`);
  if (!stats.isDirectory()) return absolute;
  const present: string[] = [];
  for (const name of MANIFEST_FILE_NAMES) {
    const candidate = await stat(path.join(absolute, name)).catch(() => null);
    if (candidate?.isFile() === true) present.push(name);
  }
  const only = present[0];
  if (only === undefined)
    throw new InputError(target, `folder has no ${MANIFEST_FILE_NAMES.join(', ')}${where}`);
  // Two manifests side by side would mean two agents or a stale copy; neither is safe to guess.
  if (present.length > 1)
    throw new InputError(target, `folder has several manifests (${present.join(', ')}); keep one`);
  return path.join(absolute, only);
}

/** An InputError carrying every issue, whose message names the file and the first problem. */
function invalidManifest(file: string, issues: readonly FieldIssue[]): InputError {
  const [first, ...rest] = issues;
  const head = first ?? { field: 'manifest', message: 'is invalid' };
  const error = new InputError(head.field, head.message, rest);
  error.message = `invalid agent manifest ${file}: ${head.field}: ${head.message}${rest.length > 0 ? ` (and ${rest.length} more)` : ''}`;
  return error;
}
