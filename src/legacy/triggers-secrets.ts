import { importRows, type ImportContext, type TableReport } from './context.js';
import { workflowOf } from './definitions.js';
import { TRIGGER_TYPES } from '../storage/index.js';
import type { LegacyRow } from './source.js';

/** Triggers of every type; a trigger whose workflow the owner does not have cannot be imported. */
export function importTriggers(ctx: ImportContext, rows: readonly LegacyRow[]): Promise<TableReport> {
  return importRows('triggers', 'triggers', rows, async (row) => {
    const r = ctx.reader('triggers', row);
    const id = r.text('id');
    const workflow = await workflowOf(ctx, r.text('workflow_id'));
    const type = r.text('type');
    if (id === null || workflow === null) {
      r.warn(
        `${id === null ? 'has no id' : `its workflow ${r.text('workflow_id')} is missing`}; not imported`,
      );
      return false;
    }
    if (type === null || !(TRIGGER_TYPES as readonly string[]).includes(type)) {
      r.warn(`type "${type}" is not one of ${TRIGGER_TYPES.join(', ')}; not imported`);
      return false;
    }
    const createdAt = r.timestamp('created_at') ?? undefined;
    return ctx.insertIfAbsent('triggers', {
      id,
      owner_id: ctx.ownerId,
      workflow_id: workflow,
      type,
      webhook_path: r.text('webhook_path'),
      webhook_secret: r.text('webhook_secret'),
      cron_expression: r.text('cron_expression'),
      next_run_at: r.timestamp('next_run_at'),
      event_source: r.text('event_source'),
      event_type: r.text('event_type'),
      enabled: r.bool('enabled', true),
      created_at: createdAt,
      updated_at: createdAt,
    });
  });
}

/**
 * Secrets keep their legacy ciphertext with key_version 0: Swarm does not hold the old engine's
 * key, so it cannot decrypt or re-encrypt them, and says so once for all of them.
 */
export async function importSecrets(ctx: ImportContext, rows: readonly LegacyRow[]): Promise<TableReport> {
  const names: string[] = [];
  const report = await importRows('secrets', 'secrets', rows, async (row) => {
    const r = ctx.reader('secrets', row);
    const id = r.text('id');
    const name = r.text('name');
    const legacyWorkflow = r.text('workflow_id');
    const workflow = legacyWorkflow === null ? null : await workflowOf(ctx, legacyWorkflow);
    const value = r.raw('encrypted_value');
    if (id === null || name === null || value === null || (legacyWorkflow !== null && workflow === null)) {
      const why =
        id === null || name === null
          ? 'has no id or name'
          : value === null
            ? 'has no value'
            : `its workflow ${legacyWorkflow} is missing`;
      r.warn(`${why}; not imported`);
      return false;
    }
    // The target ties scope to workflow_id with a CHECK, so the workflow decides.
    const scope = workflow === null ? 'global' : 'workflow';
    const legacyScope = r.text('scope');
    if (legacyScope !== null && legacyScope !== scope)
      r.warn(`scope "${legacyScope}" imported as ${scope}, as its workflow_id says`);
    const createdAt = r.timestamp('created_at') ?? undefined;
    const inserted = await ctx.insertIfAbsent('secrets', {
      id,
      owner_id: ctx.ownerId,
      workflow_id: workflow,
      name,
      encrypted_value: Buffer.isBuffer(value) ? value : Buffer.from(String(value), 'utf8'),
      key_version: 0,
      scope,
      created_at: createdAt,
      updated_at: r.timestamp('updated_at') ?? createdAt,
    });
    if (inserted) names.push(name);
    return inserted;
  });
  if (names.length > 0) {
    ctx.warnings.push(
      `${names.length} secret(s) keep the legacy engine's ciphertext, which Swarm cannot decrypt: ` +
        `re-set them with \`swarm secrets set\` before use (${names.join(', ')})`,
    );
  }
  return report;
}
