import { describe, expect, it } from 'vitest';
import {
  BUILTIN_AGENTS,
  BUILTIN_NAMES,
  isBuiltinName,
  manifestHash,
  validateAgentManifest,
} from '../../../src/registry/agent/index.js';
import { validateBuiltinManifest } from '../../../src/registry/agent/validate.js';
import { base, validOf } from './helpers.js';

describe('BUILTIN_AGENTS', () => {
  it('lists every builtin once, as builtin/<name>@1.0.0 on the builtin runtime', () => {
    expect(BUILTIN_AGENTS.map((a) => a.name)).toEqual([
      'builtin/noop',
      'builtin/transform',
      'builtin/http_request',
      'builtin/delay',
      'builtin/condition',
      'builtin/emit_event',
      'builtin/send_email',
      'builtin/approval',
      'builtin/consensus',
      'builtin/orchestrate',
      'builtin/wait_for_event',
    ]);
    for (const agent of BUILTIN_AGENTS) {
      const name = agent.name.slice('builtin/'.length);
      expect(agent).toMatchObject({
        version: '1.0.0',
        runtime: { type: 'builtin', name },
        capabilities: [`builtin:${name}`],
      });
    }
  });

  it('each validates (with the builtin prefix allowed) and is already normalised', () => {
    for (const agent of BUILTIN_AGENTS) {
      const result = validateBuiltinManifest(agent);
      expect(result.ok ? [] : result.issues, agent.name).toEqual([]);
      if (result.ok) expect(result.value).toEqual(agent);
      // The prefix is only for Swarm itself: the public validator refuses it.
      expect(validateAgentManifest(agent).ok).toBe(false);
    }
  });

  it('declares the permissions its work needs, and is frozen', () => {
    const permissions = Object.fromEntries(BUILTIN_AGENTS.map((a) => [a.name, a.permissions]));
    expect(permissions['builtin/http_request']).toEqual(['network:http']);
    expect(permissions['builtin/send_email']).toEqual(['network:smtp']);
    expect(permissions['builtin/noop']).toEqual([]);
    expect(Object.isFrozen(BUILTIN_AGENTS[0]?.runtime)).toBe(true);
  });

  it('isBuiltinName knows exactly the builtin names', () => {
    for (const name of BUILTIN_NAMES) expect(isBuiltinName(`builtin/${name}`)).toBe(true);
    expect(isBuiltinName('noop')).toBe(false);
    expect(isBuiltinName('builtin/teleport')).toBe(false);
    expect(isBuiltinName('builtin/')).toBe(false);
  });
});

describe('manifestHash', () => {
  it('is sha256 hex, stable under key reordering', () => {
    const a = validOf(
      base({
        capabilities: ['x:y'],
        input_schema: { type: 'object', properties: { a: { type: 'string' } } },
      }),
    );
    const b = validOf({
      input_schema: { properties: { a: { type: 'string' } }, type: 'object' },
      runtime: { name: 'noop', type: 'builtin' },
      capabilities: ['x:y'],
      version: '1.0.0',
      name: 'my-agent',
    });
    expect(manifestHash(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(manifestHash(b)).toBe(manifestHash(a));
  });

  it('counts defaults: writing a default out does not change the hash', () => {
    expect(manifestHash(validOf(base({ resources: { memory_mb: 128 }, type: 'execution' })))).toBe(
      manifestHash(validOf(base())),
    );
  });

  it('changes when content changes, including array order', () => {
    const one = manifestHash(validOf(base({ capabilities: ['a', 'b'] })));
    expect(manifestHash(validOf(base({ capabilities: ['b', 'a'] })))).not.toBe(one);
    expect(manifestHash(validOf(base({ capabilities: ['a', 'b'], description: 'x' })))).not.toBe(one);
    expect(new Set(BUILTIN_AGENTS.map(manifestHash)).size).toBe(BUILTIN_AGENTS.length);
  });
});
