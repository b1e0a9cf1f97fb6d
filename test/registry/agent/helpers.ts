import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, expect } from 'vitest';
import type { FieldIssue } from '../../../src/errors/index.js';
import { validateAgentManifest } from '../../../src/registry/agent/index.js';
import type { AgentManifest } from '../../../src/registry/types.js';

/** The smallest valid manifest; tests spread their one mistake over it. */
export function base(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: 'my-agent', version: '1.0.0', runtime: { type: 'builtin', name: 'noop' }, ...extra };
}

export function validOf(doc: unknown, folder?: string): AgentManifest {
  const result = validateAgentManifest(doc, folder === undefined ? {} : { folder });
  if (!result.ok) throw new Error(`expected valid, got ${JSON.stringify(result.issues)}`);
  return result.value;
}

export function issuesOf(doc: unknown, folder?: string): readonly FieldIssue[] {
  const result = validateAgentManifest(doc, folder === undefined ? {} : { folder });
  if (result.ok) throw new Error('expected issues, got a valid manifest');
  return result.issues;
}

/** Asserts exactly one issue, at `field`, whose message contains `text`. */
export function expectIssue(doc: unknown, field: string, text: string | RegExp, folder?: string): void {
  const issues = issuesOf(doc, folder);
  expect(issues).toHaveLength(1);
  expect(issues[0]?.field).toBe(field);
  if (typeof text === 'string') expect(issues[0]?.message).toContain(text);
  else expect(issues[0]?.message).toMatch(text);
}

const made: string[] = [];
afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A temporary folder holding `files` (path → content), removed after the test. */
export function folderWith(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'swarm-agent-'));
  made.push(dir);
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
  }
  return dir;
}
