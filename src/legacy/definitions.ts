import { RUNTIME_TYPES, TRIGGER_TYPES, toDbJson } from '../storage/index.js';
import { importRows, type ImportContext, type TableReport } from './context.js';
import type { LegacyRow } from './source.js';

type Reader = ReturnType<ImportContext['reader']>;

/** A definition's id, name and version, or null (with a warning) when one is missing. */
function definitionKey(r: Reader): { id: string; name: string; version: string } | null {
  const id = r.text('id');
  const name = r.text('name');
  const version = r.text('version');
  if (id === null || name === null || version === null) {
    r.warn('has no id, name or version; not imported');
    return null;
  }
  return { id, name, version };
}

/** Agents: 000's input_schema/output_schema/runtime_type, 003's inputs_schema/outputs_schema/runtime. */
export function importAgents(ctx: ImportContext, rows: readonly LegacyRow[]): Promise<TableReport> {
  return importRows('agents', 'agents', rows, async (row) => {
    const r = ctx.reader('agents', row);
    const key = definitionKey(r);
    if (key === null) return false;
    const { id, name, version } = key;
    const legacyRuntime = r.text('runtime', 'runtime_type');
    // NULL meant the legacy default, node; an unknown runtime is a program of some kind, so it
    // runs as a binary, and the original name is kept in runtime_config.
    const runtime = r.oneOf(['runtime', 'runtime_type'], RUNTIME_TYPES, 'binary', { ifNull: 'node' });
    const createdAt = r.timestamp('created_at') ?? undefined;
    const inserted = await ctx.insertIfAbsent('agents', {
      id,
      owner_id: ctx.ownerId,
      name,
      version,
      description: r.text('description'),
      path: r.text('path'),
      capabilities: r.json('capabilities') ?? undefined,
      input_schema: r.json('inputs_schema', 'input_schema'),
      output_schema: r.json('outputs_schema', 'output_schema'),
      runtime_type: runtime,
      runtime_config:
        legacyRuntime === null || runtime === legacyRuntime
          ? undefined
          : toDbJson({ legacy_runtime: legacyRuntime }),
      memory_mb: positive(r, 'memory_mb'),
      timeout_seconds: positive(r, 'timeout_seconds'),
      triggers: r.json('triggers'),
      author: r.text('author'),
      tags: r.json('tags') ?? undefined,
      created_at: createdAt,
      updated_at: r.timestamp('updated_at') ?? createdAt,
    });
    if (inserted) ctx.agents.set(id, { id, name, version });
    else await ctx.resolve('agents', id, { name, version });
    return inserted;
  });
}

/** Workflows; `definition` keeps the legacy document as its columns described it. */
export function importWorkflows(ctx: ImportContext, rows: readonly LegacyRow[]): Promise<TableReport> {
  return importRows('workflows', 'workflows', rows, async (row) => {
    const r = ctx.reader('workflows', row);
    const key = definitionKey(r);
    if (key === null) return false;
    const { id, name, version } = key;
    let steps = r.json('steps');
    if (steps === null) {
      r.warn('has no steps; imported with an empty step list');
      steps = toDbJson([]);
    }
    const triggerType = r.text('trigger_type');
    const knownTrigger = triggerType === null || (TRIGGER_TYPES as readonly string[]).includes(triggerType);
    if (!knownTrigger)
      r.warn(`trigger_type "${triggerType}" is not one of ${TRIGGER_TYPES.join(', ')}; left empty`);
    const enabled = r.bool('enabled', true);
    const doc = {
      trigger_config: r.json('trigger_config'),
      variables: r.json('variables'),
      on_error: r.json('on_error'),
      on_success: r.json('on_success'),
      tags: r.json('tags'),
    };
    const definition = {
      name,
      version,
      description: r.text('description'),
      path: r.text('path'),
      trigger: { type: triggerType, config: parse(doc.trigger_config) },
      steps: parse(steps),
      variables: parse(doc.variables) ?? {},
      on_error: parse(doc.on_error),
      on_success: parse(doc.on_success),
      enabled: enabled === 1,
      author: r.text('author'),
      tags: parse(doc.tags) ?? [],
    };
    const createdAt = r.timestamp('created_at') ?? undefined;
    const inserted = await ctx.insertIfAbsent('workflows', {
      id,
      owner_id: ctx.ownerId,
      name,
      version,
      description: definition.description,
      path: definition.path,
      trigger_type: knownTrigger ? triggerType : null,
      trigger_config: doc.trigger_config,
      steps,
      definition: toDbJson(definition),
      variables: doc.variables ?? undefined,
      on_error: doc.on_error,
      on_success: doc.on_success,
      enabled,
      author: definition.author,
      tags: doc.tags ?? undefined,
      created_at: createdAt,
      updated_at: r.timestamp('updated_at') ?? createdAt,
    });
    if (inserted) ctx.workflows.set(id, { id, name, version });
    else await ctx.resolve('workflows', id, { name, version });
    return inserted;
  });
}

/** The owner's workflow a legacy workflow id stands for (imported or already there). */
export async function workflowOf(ctx: ImportContext, legacyId: string | null): Promise<string | null> {
  if (legacyId === null) return null;
  return (await ctx.resolve('workflows', legacyId))?.id ?? null;
}

/**
 * A positive whole number that fits the target's INTEGER column, or undefined so the column
 * default (128 MB, 300 s) applies; PostgreSQL would reject the whole import over one value.
 */
function positive(r: ReturnType<ImportContext['reader']>, column: string): number | undefined {
  const n = r.int(column);
  if (n === null) return undefined;
  if (n > 0 && n <= 2_147_483_647) return n;
  r.warn(`${column} ${n} is out of range; the default is used`);
  return undefined;
}

function parse(json: string | null): unknown {
  return json === null ? null : JSON.parse(json);
}
