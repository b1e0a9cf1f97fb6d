/**
 * An MCP server as a user declares it (`PUT /api/v1/mcp/servers/{name}`, `swarm mcp servers
 * add`), checked before anything is stored: either a `command` (stdio) or a `url` (http), never
 * both; `headers` maps header names to secret NAMES, `env` lists secret names. Values of secrets
 * never pass through here.
 */
import { InputError, type FieldIssue } from '../errors/index.js';
import { MCP_SERVER_NAME } from '../registry/index.js';
import { SECRET_NAME_PATTERN } from '../secrets/index.js';
import type { NewMcpServer } from '../storage/index.js';

const MAX_ARGS = 100;
const MAX_ARG_CHARS = 4096;
const MAX_COMMAND_CHARS = 1024;
const MAX_URL_CHARS = 2048;
const MAX_SECRETS = 50;
/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/;
/**
 * Headers the streamable-HTTP transport sets itself (or the connection needs): a user's value
 * would contradict it or break the session.
 */
const MANAGED_HEADERS = new Set([
  'host',
  'content-length',
  'content-type',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'accept',
  'last-event-id',
  'mcp-session-id',
  'mcp-protocol-version',
]);
const BODY_KEYS = ['transport', 'command', 'args', 'url', 'headers', 'env'];

/** The server `name` as the rule wants it, or an InputError naming `field`. */
export function checkMcpServerName(name: unknown, field = 'name'): string {
  if (typeof name !== 'string' || !MCP_SERVER_NAME.test(name))
    throw new InputError(
      field,
      'must be lower-case letters, digits, . _ - (starting with a letter or digit, at most 100 characters), e.g. files',
    );
  return name;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? `"${value.slice(0, 60)}"` : typeof value;
}

function checkCommand(value: unknown, issues: FieldIssue[]): string | null {
  if (typeof value !== 'string' || value.trim() === '' || value.length > MAX_COMMAND_CHARS) {
    issues.push({
      field: 'command',
      message: `must be a program: a name found on the sandbox's PATH or an absolute path, got ${describe(value)}`,
    });
    return null;
  }
  // One program, no shell: `npx -y server` written as one string would never run as meant.
  if (/\s/.test(value) || value.includes('\0'))
    issues.push({
      field: 'command',
      message: `"${value}" has spaces: give the program alone and each argument with args (--arg)`,
    });
  else if (value.includes('/') && !value.startsWith('/'))
    issues.push({ field: 'command', message: `"${value}" must be a bare name or an absolute path` });
  return value;
}

function checkArgs(value: unknown, issues: FieldIssue[]): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > MAX_ARGS) {
    issues.push({ field: 'args', message: `must be an array of at most ${MAX_ARGS} strings` });
    return [];
  }
  value.forEach((arg: unknown, i) => {
    if (typeof arg !== 'string' || arg.length > MAX_ARG_CHARS || arg.includes('\0'))
      issues.push({
        field: `args[${i}]`,
        message: `must be a string of at most ${MAX_ARG_CHARS} characters, got ${describe(arg)}`,
      });
  });
  return value as string[];
}

function checkUrl(value: unknown, issues: FieldIssue[]): string | null {
  if (typeof value !== 'string' || value.length > MAX_URL_CHARS || !URL.canParse(value)) {
    issues.push({ field: 'url', message: `must be an http:// or https:// URL, got ${describe(value)}` });
    return null;
  }
  const url = new URL(value);
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    issues.push({ field: 'url', message: `must be an http:// or https:// URL, got ${url.protocol}` });
  else if (url.username !== '' || url.password !== '')
    issues.push({
      field: 'url',
      message: 'must not contain credentials (user:password@): send them in a header read from a secret',
    });
  // Queries and fragments often carry tokens, and this URL is shown to anyone who may read it.
  else if (url.search !== '' || url.hash !== '')
    issues.push({
      field: 'url',
      message: 'must not have a query or fragment: send credentials in a header read from a secret',
    });
  return url.toString();
}

function checkSecretName(value: unknown, field: string, issues: FieldIssue[]): void {
  if (typeof value !== 'string' || !SECRET_NAME_PATTERN.test(value))
    issues.push({
      field,
      message: `must be the NAME of a secret (letters, digits and _, not starting with a digit), got ${describe(value)}`,
    });
}

function checkHeaders(value: unknown, issues: FieldIssue[]): Record<string, string> {
  if (value === undefined) return {};
  if (!isPlainObject(value) || Object.keys(value).length > MAX_SECRETS) {
    issues.push({
      field: 'headers',
      message: `must be an object of at most ${MAX_SECRETS} header names, each naming a secret`,
    });
    return {};
  }
  const seen = new Set<string>();
  for (const [name, secret] of Object.entries(value)) {
    const field = `headers.${name}`;
    if (!HEADER_NAME.test(name)) issues.push({ field, message: `"${name}" is not an HTTP header name` });
    else if (MANAGED_HEADERS.has(name.toLowerCase()))
      issues.push({ field, message: `${name} is set by the MCP transport itself` });
    else if (seen.has(name.toLowerCase()))
      issues.push({ field, message: `${name} is given twice (header names are case-insensitive)` });
    seen.add(name.toLowerCase());
    checkSecretName(secret, field, issues);
  }
  return value as Record<string, string>;
}

function checkEnv(value: unknown, issues: FieldIssue[]): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > MAX_SECRETS) {
    issues.push({ field: 'env', message: `must be an array of at most ${MAX_SECRETS} secret names` });
    return [];
  }
  value.forEach((name: unknown, i) => checkSecretName(name, `env[${i}]`, issues));
  return [...new Set(value as string[])];
}

/**
 * The server `name` as `body` describes it, or one InputError listing every problem (the first
 * in the message), each naming its field. `transport`, when given, must agree with the fields.
 */
export function checkMcpServerInput(name: unknown, body: unknown): NewMcpServer {
  const checkedName = checkMcpServerName(name);
  if (!isPlainObject(body)) throw new InputError('body', 'must be a JSON object');
  const issues: FieldIssue[] = [];
  for (const key of Object.keys(body))
    if (!BODY_KEYS.includes(key))
      issues.push({ field: key, message: `is not a field of an MCP server (${BODY_KEYS.join(', ')})` });
  const hasCommand = body.command !== undefined;
  const hasUrl = body.url !== undefined;
  if (hasCommand && hasUrl)
    issues.push({
      field: 'url',
      message: 'give either command (a stdio server) or url (an http server), not both',
    });
  else if (!hasCommand && !hasUrl)
    issues.push({
      field: 'command',
      message: 'give command (a stdio server started in the sandbox) or url (a streamable-HTTP server)',
    });
  const transport = hasCommand ? 'stdio' : 'http';
  if (body.transport !== undefined && body.transport !== transport && hasCommand !== hasUrl)
    issues.push({
      field: 'transport',
      message: `must be ${transport} for a server with ${hasCommand ? 'a command' : 'a url'}, got ${describe(body.transport)}`,
    });
  const command = hasCommand ? checkCommand(body.command, issues) : null;
  const url = hasUrl ? checkUrl(body.url, issues) : null;
  // What only one transport uses is refused on the other rather than silently dropped.
  if (!hasCommand && body.args !== undefined)
    issues.push({ field: 'args', message: 'only a stdio server (command) takes args' });
  if (!hasCommand && body.env !== undefined)
    issues.push({ field: 'env', message: 'only a stdio server (command) takes env' });
  if (!hasUrl && body.headers !== undefined)
    issues.push({ field: 'headers', message: 'only an http server (url) takes headers' });
  const args = hasCommand ? checkArgs(body.args, issues) : [];
  const env = hasCommand ? checkEnv(body.env, issues) : [];
  const headers = hasUrl ? checkHeaders(body.headers, issues) : {};
  const [first, ...more] = issues;
  if (first !== undefined) throw new InputError(first.field, first.message, more);
  return { name: checkedName, transport, command, args, url, headers, env };
}

/** Every secret name a server reads: its headers' and its env's. */
export function secretNamesOf(server: Pick<NewMcpServer, 'headers' | 'env'>): string[] {
  return [...new Set([...Object.values(server.headers), ...server.env])];
}
