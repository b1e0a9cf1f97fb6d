import type { FieldIssue } from '../../errors/index.js';
import { fieldOf } from './schema.js';
import { DEFAULT_RETRY, obj, str, type Json } from './refs.js';
import { agentAt, checkId, type Located, type SourceStep } from './source.js';

/**
 * Seed 004's form: `{trigger, nodes: [{id, type, name, config}], edges: [[from, to], …]}`.
 * A node's `type` names what runs it: an agent reference (`name@range`, `builtin/…`, or a bare
 * name meaning any version), or a capability when it contains ':' and no '@' (`text:summarize`).
 * `config` is the input mapping; an edge [from, to] means `to` needs `from`. Node ids become
 * step ids as they are: one that is not a valid step id is refused, never silently renamed,
 * because expressions and run records refer to it by that id.
 */

/**
 * Seed 004's connector node types, run by the builtins that use connectors: `http` is
 * builtin/http_request (its config is the request: `url`, `method`, `headers`, `body`,
 * `connector`), `email` and `smtp` are builtin/send_email (seed 004's `body` is the text body).
 * These names are taken by the builtins in this form; an agent of one of them is written
 * `name@range`.
 */
const NODE_BUILTINS: Readonly<Record<string, { agent: string; input?: (config: Json) => Json }>> = {
  http: { agent: 'builtin/http_request' },
  email: { agent: 'builtin/send_email', input: emailInput },
  smtp: { agent: 'builtin/send_email', input: emailInput },
};

function emailInput(config: Json): Json {
  if (!('body' in config) || 'text' in config) return config;
  const { body, ...rest } = config;
  return { ...rest, text: body };
}

function isCapability(type: string): boolean {
  return type.includes(':') && !type.includes('@') && !type.startsWith('builtin/');
}

export function readNodesForm(doc: Json, issues: FieldIssue[]): SourceStep[] {
  const nodes = Array.isArray(doc.nodes) ? doc.nodes : [];
  const needsOf = new Map<string, Located<string>[]>();
  const steps = nodes.map((raw, i): SourceStep => {
    const node = obj(raw);
    const at = `nodes[${i}]`;
    const id = checkId(node.id, fieldOf(at, 'id'), 'node', issues);
    const alias =
      typeof node.type === 'string' && Object.hasOwn(NODE_BUILTINS, node.type)
        ? NODE_BUILTINS[node.type]
        : undefined;
    const type = alias?.agent ?? str(node.type);
    const typeField = fieldOf(at, 'type');
    const capability = type !== undefined && isCapability(type);
    const needs: Located<string>[] = [];
    if (!needsOf.has(id)) needsOf.set(id, needs);
    return {
      id,
      idField: fieldOf(at, 'id'),
      at,
      fromNode: true,
      kind: capability ? 'capability' : 'agent',
      name: str(node.name),
      agent: capability ? undefined : agentAt(type, typeField, issues),
      capability: capability ? { value: type, field: typeField } : undefined,
      routing: 'round_robin',
      members: [],
      rounds: 1,
      input: alias?.input === undefined ? obj(node.config) : alias.input(obj(node.config)),
      inputField: fieldOf(at, 'config'),
      needs,
      retry: DEFAULT_RETRY,
      priority: 5,
    };
  });
  const edges = Array.isArray(doc.edges) ? doc.edges : [];
  edges.forEach((edge, j) => {
    if (!Array.isArray(edge)) return;
    const [from, to] = edge as unknown[];
    if (typeof from !== 'string' || typeof to !== 'string') return;
    const needs = needsOf.get(to);
    if (needs === undefined) {
      issues.push({ field: `edges[${j}][1]`, message: `unknown node "${to}"` });
      return;
    }
    // An edge written twice is the same dependency; the unknown/cycle checks see it once.
    if (!needs.some((n) => n.value === from)) needs.push({ value: from, field: `edges[${j}][0]` });
  });
  return steps;
}
