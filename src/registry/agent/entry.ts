/**
 * A process agent's `runtime.entry`. The folder is what gets packaged and isolated, so the entry
 * must stay inside it however it is written: relative, no `..` escape once normalised, and (when
 * the folder is known) an existing regular file whose real path, symlinks resolved, is inside too.
 */
import { realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import type { FieldIssue } from '../../errors/index.js';
import { requiredString } from './rules.js';

/** Checks `entry`, returning it normalised (`./index.js` → `index.js`). */
export function checkEntry(
  value: unknown,
  kind: string,
  folder: string | undefined,
  issues: FieldIssue[],
): string {
  const field = 'runtime.entry';
  const entry = requiredString(
    value,
    field,
    `the program to run, relative to the agent's folder (e.g. ${kind === 'python' ? 'main.py' : 'index.js'})`,
    issues,
  );
  if (entry === '') return '';
  if (entry.includes('\\') || entry.includes('\0')) {
    issues.push({ field, message: `"${entry}" must use / as the path separator and contain no NUL` });
    return entry;
  }
  if (path.posix.isAbsolute(entry) || path.win32.isAbsolute(entry)) {
    issues.push({
      field,
      message: `"${entry}" is an absolute path; it must be relative to the agent's folder`,
    });
    return entry;
  }
  const normal = path.posix.normalize(entry);
  if (normal === '..' || normal.startsWith('../')) {
    issues.push({
      field,
      message: `"${entry}" escapes the agent's folder (normalised: "${normal}"); it must stay inside it`,
    });
    return entry;
  }
  if (normal === '.' || normal.endsWith('/')) {
    issues.push({ field, message: `"${entry}" names a folder; it must name a file` });
    return entry;
  }
  if (folder !== undefined) checkEntryFile(folder, normal, kind, issues);
  return normal;
}

function checkEntryFile(folder: string, entry: string, kind: string, issues: FieldIssue[]): void {
  const field = 'runtime.entry';
  const file = path.join(folder, entry);
  try {
    const stat = statSync(file, { throwIfNoEntry: false });
    if (stat === undefined) {
      issues.push({ field, message: `file not found: ${file}` });
    } else if (!stat.isFile()) {
      issues.push({ field, message: `${file} is not a regular file` });
    } else if (!isInside(realpathSync(folder), realpathSync(file))) {
      issues.push({ field, message: `${file} resolves (through a symlink) outside the agent's folder` });
    } else if (kind === 'binary' && process.platform !== 'win32' && (stat.mode & 0o111) === 0) {
      issues.push({ field, message: `${file} is not executable (chmod +x it)` });
    }
  } catch (error) {
    // ENOTDIR (a path through a file), EACCES…: the worker could not run it either.
    issues.push({ field, message: `${file} cannot be read: ${(error as Error).message}` });
  }
}

function isInside(folder: string, file: string): boolean {
  const relative = path.relative(folder, file);
  return (
    relative !== '' &&
    relative !== '..' &&
    !relative.startsWith(`..${path.sep}`) &&
    !path.isAbsolute(relative)
  );
}
