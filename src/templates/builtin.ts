import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from '../registry/index.js';
import { parseTemplate, type Template } from './template.js';

/** The templates shipped with Swarm, one file each (`templates/*.yaml` of the package). */
export const TEMPLATES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../templates');

let cached: readonly Template[] | undefined;

/**
 * The built-in templates, read once: public, listed to everyone, not editable. A broken file is
 * a bug of Swarm's, so it throws (the template test reads every file).
 */
export function builtinTemplates(dir: string = TEMPLATES_DIR): readonly Template[] {
  if (dir === TEMPLATES_DIR && cached !== undefined) return cached;
  const templates = readdirSync(dir)
    .filter((file) => file.endsWith('.yaml'))
    .sort()
    .map((file) =>
      parseTemplate(parseDocument(readFileSync(path.join(dir, file), 'utf8'), 'yaml', file), {
        builtin: true,
        isPublic: true,
        source: file,
      }),
    );
  if (dir === TEMPLATES_DIR) cached = templates;
  return templates;
}
