import { describe, expect, it } from 'vitest';
import { toolNameOf } from '../../src/server/mcp/index.js';

const TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;

describe('toolNameOf', () => {
  it('keeps a workflow name that is a valid tool name', () => {
    expect(toolNameOf('hello')).toBe('hello');
    expect(toolNameOf('Fetch-page_2')).toBe('Fetch-page_2');
    expect(toolNameOf('x'.repeat(64))).toBe('x'.repeat(64));
  });

  it('makes any other a valid name, the same every time, and distinct from its look-alikes', () => {
    const names = ['a.b', 'a_b', 'a-b', 'x'.repeat(65), 'x'.repeat(128), `${'x'.repeat(60)}.y`];
    const tools = names.map(toolNameOf);
    for (const tool of tools) expect(tool).toMatch(TOOL_NAME);
    expect(new Set(tools).size).toBe(names.length);
    expect(toolNameOf('a.b')).toMatch(/^a_b_[0-9a-f]{8}$/);
    expect(names.map(toolNameOf)).toEqual(tools);
    expect(toolNameOf('x'.repeat(128))).not.toBe(toolNameOf('x'.repeat(127)));
  });
});
