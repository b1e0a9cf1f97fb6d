import { createHash } from 'node:crypto';

/** What MCP allows in a tool name. */
const TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;
/** Room left for the name itself once `_` and the 8-digit hash are added. */
const KEPT_LENGTH = 64 - 9;

/**
 * The MCP tool name of a workflow. Workflow names may hold "." and run to 128 characters; tool
 * names are `[A-Za-z0-9_-]{1,64}`. A name that fits is the tool name as it is; any other keeps
 * its first 55 characters (each "." made "_") and adds "_" and 8 hex digits of the full name's
 * SHA-256, so `a.b` and `a_b` stay two tools. The same name gives the same tool name on every
 * process, and a call is resolved by naming the caller's workflows again: no table to share.
 */
export function toolNameOf(workflowName: string): string {
  if (TOOL_NAME.test(workflowName)) return workflowName;
  const kept = workflowName.replaceAll(/[^A-Za-z0-9_-]/g, '_').slice(0, KEPT_LENGTH);
  const hash = createHash('sha256').update(workflowName).digest('hex').slice(0, 8);
  return `${kept}_${hash}`;
}
