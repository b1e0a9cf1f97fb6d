import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { MCP_ERROR } from './errors.js';

/** What a schema of the SDK (zod) answers to `safeParse`, as far as it is read here. */
interface ParseResult<T> {
  readonly success: boolean;
  readonly data?: T;
  readonly error?: {
    readonly issues: readonly { readonly path: readonly PropertyKey[]; readonly message: string }[];
  };
}

/** The request as `schema` (one of the SDK's) reads it, or InvalidParams naming what is wrong. */
export function strictly<T>(schema: { safeParse(value: unknown): ParseResult<T> }, request: unknown): T {
  const parsed = schema.safeParse(request);
  if (parsed.success) return parsed.data as T;
  const issues = (parsed.error?.issues ?? []).map((issue) => ({
    field: issue.path.map(String).join('.'),
    message: issue.message,
  }));
  const text = issues.map((issue) => `${issue.field}: ${issue.message}`).join('; ');
  throw new McpError(MCP_ERROR.invalidParams, `invalid request: ${text}`, {
    code: 'INPUT_INVALID',
    errors: issues,
  });
}
