/**
 * The JSON Schema of a workflow's run input: the dashboard's start form and the inputSchema of
 * the workflow's MCP tool (src/server/mcp). Pure code with no imports, so the dashboard's
 * bundle takes it from here as it is.
 *
 * Swarm's workflow definitions declare no input schema of their own, so it is read from what
 * the definition does with its input (`trigger.*` in expressions):
 *  - a first step (no `needs`) whose input passes a trigger field straight through
 *    (`text: '{{ trigger.text }}'`) takes that field's schema, and whether it is required, from
 *    the step agent's `input_schema`;
 *  - any other `trigger.<field>` the definition reads becomes an optional field: a list where a
 *    `for_each` iterates it, text elsewhere.
 * No field found: null (the form falls back to a JSON text area, the MCP tool to any object).
 */

export interface JsonSchema {
  readonly type?: string | readonly string[];
  readonly title?: string;
  readonly description?: string;
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly required?: readonly string[];
  readonly items?: JsonSchema;
  readonly enum?: readonly unknown[];
  readonly default?: unknown;
  readonly minimum?: number;
  readonly maximum?: number;
}

/** The parts of a normalised workflow step (the API's `workflow.steps[]`) read here. */
export interface InputStep {
  readonly id: string;
  readonly agent?: { readonly name: string } | string;
  readonly input?: unknown;
  readonly needs?: readonly string[];
  readonly for_each?: string;
  readonly when?: string;
}

/** `trigger.name`, not `steps.x.trigger.name` nor `mytrigger.name`. */
const REFERENCE = /(?<![\w$.])trigger\.([A-Za-z_][\w]*)/g;
/** An input value that is exactly one trigger field: `{{ trigger.text }}`. */
const PASS_THROUGH = /^\{\{\s*trigger\.([A-Za-z_]\w*)\s*\}\}$/;

function agentName(step: InputStep): string | undefined {
  return typeof step.agent === 'string' ? step.agent.split('@')[0] : step.agent?.name;
}

/** Every string inside `value`, however deep. */
function strings(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const item of value) strings(item, out);
  else if (value !== null && typeof value === 'object')
    for (const item of Object.values(value)) strings(item, out);
  return out;
}

function references(text: string): string[] {
  return [...text.matchAll(REFERENCE)].map((m) => m[1]!);
}

/** The agent names whose input_schema runInputSchema would use: fetch these before calling it. */
export function firstStepAgents(steps: readonly InputStep[]): string[] {
  const names = steps
    .filter((s) => (s.needs ?? []).length === 0)
    .map(agentName)
    .filter((n): n is string => n !== undefined);
  return [...new Set(names)];
}

/**
 * The run input's schema, from `steps` and the input schemas of their agents (by agent name;
 * missing ones are treated as unknown), or null when the definition reads no trigger field.
 */
export function runInputSchema(
  steps: readonly InputStep[],
  agentInputSchema: (agent: string) => JsonSchema | undefined,
): JsonSchema | null {
  const properties: Record<string, JsonSchema> = {};
  const required = new Set<string>();

  for (const step of steps) {
    if ((step.needs ?? []).length > 0) continue;
    const name = agentName(step);
    const schema = name === undefined ? undefined : agentInputSchema(name);
    if (step.input === null || typeof step.input !== 'object' || Array.isArray(step.input)) continue;
    for (const [key, value] of Object.entries(step.input as Record<string, unknown>)) {
      const field = typeof value === 'string' ? PASS_THROUGH.exec(value.trim())?.[1] : undefined;
      if (field === undefined || properties[field] !== undefined) continue;
      properties[field] = schema?.properties?.[key] ?? { type: 'string' };
      if (schema?.required?.includes(key) === true) required.add(field);
    }
  }

  for (const step of steps) {
    if (step.for_each !== undefined)
      for (const field of references(step.for_each))
        properties[field] ??= { type: 'array', items: { type: 'string' } };
    const texts = [...strings(step.input), ...(step.when === undefined ? [] : [step.when])];
    for (const text of texts) for (const field of references(text)) properties[field] ??= { type: 'string' };
  }

  if (Object.keys(properties).length === 0) return null;
  return { type: 'object', properties, ...(required.size === 0 ? {} : { required: [...required] }) };
}
