import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, InputError, SwarmError } from '../src/errors/index.js';

describe('error codes', () => {
  it('documents every code in docs/errors.md with its HTTP status', () => {
    const doc = fs.readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
    for (const [code, { status }] of Object.entries(ERROR_CODES)) {
      expect(doc, code).toMatch(new RegExp(`\\|\\s*\`${code}\`\\s*\\|\\s*${status}\\s*\\|`));
    }
  });

  it('carries code, status, retryable and the field of bad input', () => {
    const error = new InputError('steps[2].needs[0]', 'unknown step "fetch"');
    expect(error).toBeInstanceOf(SwarmError);
    expect(error).toMatchObject({ code: 'INPUT_INVALID', status: 400, retryable: false });
    expect(error.message).toBe('steps[2].needs[0]: unknown step "fetch"');
    expect(error.issues).toEqual([{ field: 'steps[2].needs[0]', message: 'unknown step "fetch"' }]);
    expect(new SwarmError('DB_UNREACHABLE', 'x').retryable).toBe(true);
  });
});
