import { SwarmError, type FieldIssue } from '../errors/index.js';

/** Every problem of a definition in one error: the API lists them all, the CLI prints them all. */
export function invalidDefinition(what: string, issues: readonly FieldIssue[]): SwarmError {
  const first = issues[0];
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  return new SwarmError(
    'INPUT_INVALID',
    `invalid ${what}: ${first ? `${first.field}: ${first.message}` : 'unknown problem'}${more}`,
    {
      issues: [...issues],
    },
  );
}
