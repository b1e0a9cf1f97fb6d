import { InputError, NotFoundError, SwarmError } from '../errors/index.js';
import {
  fromDbBool,
  fromDbJson,
  newId,
  nowTimestamp,
  toDbBool,
  toDbJson,
  type Caller,
  type Store,
} from '../storage/index.js';
import { builtinTemplates } from './builtin.js';
import { fillPlaceholders, resolveParameters, type TemplateParameter } from './render.js';
import { parseTemplate, type Template } from './template.js';

/**
 * Templates as one caller sees them: Swarm's built-in ones, the public ones, and the caller's
 * own (private) ones. A name resolves to the built-in first: an owner cannot save a template
 * under a built-in's name, so a name always means one thing to everyone.
 */
export class TemplateCatalog {
  constructor(
    private readonly store: Store,
    private readonly caller: Caller,
  ) {}

  async list(): Promise<Template[]> {
    const rows = await this.store.handle.db
      .selectFrom('workflow_templates')
      .selectAll()
      .where((eb) => eb.or([eb('owner_id', '=', this.caller.userId), eb('is_public', '=', toDbBool(true))]))
      .orderBy('name')
      .execute();
    const builtins = builtinTemplates();
    const taken = new Set(builtins.map((t) => t.name));
    return [...builtins, ...rows.filter((r) => !taken.has(r.name)).map(templateOf)];
  }

  async get(name: string): Promise<Template> {
    const builtin = builtinTemplates().find((t) => t.name === name);
    if (builtin !== undefined) return builtin;
    const rows = await this.store.handle.db
      .selectFrom('workflow_templates')
      .selectAll()
      .where('name', '=', name)
      .where((eb) => eb.or([eb('owner_id', '=', this.caller.userId), eb('is_public', '=', toDbBool(true))]))
      .execute();
    // The caller's own before another owner's public one of the same name.
    const row = rows.find((r) => r.owner_id === this.caller.userId) ?? rows[0];
    if (row === undefined) throw new NotFoundError('template', name);
    return templateOf(row);
  }

  /** Saves (or replaces) one of the caller's private templates; returns it and whether it is new. */
  async save(document: unknown): Promise<{ template: Template; created: boolean }> {
    const template = parseTemplate(document, { builtin: false, isPublic: false });
    if (builtinTemplates().some((t) => t.name === template.name))
      throw new SwarmError('CONFLICT', `"${template.name}" is a built-in template's name: choose another`, {
        context: { field: 'name' },
      });
    const db = this.store.handle.db;
    const values = {
      description: template.description,
      orchestration_pattern: template.pattern,
      template_data: toDbJson(template.workflow, 'workflow'),
      parameters: toDbJson(template.parameters),
      updated_at: nowTimestamp(),
    };
    const existing = await db
      .selectFrom('workflow_templates')
      .select('id')
      .where('owner_id', '=', this.caller.userId)
      .where('name', '=', template.name)
      .executeTakeFirst();
    if (existing !== undefined) {
      await db.updateTable('workflow_templates').set(values).where('id', '=', existing.id).execute();
      return { template, created: false };
    }
    await db
      .insertInto('workflow_templates')
      .values({
        id: newId(),
        owner_id: this.caller.userId,
        name: template.name,
        is_public: toDbBool(false),
        ...values,
      })
      .execute();
    return { template, created: true };
  }

  /** The workflow definition the template makes with these parameters (not stored here). */
  async render(
    name: string,
    parameters: Readonly<Record<string, unknown>>,
  ): Promise<Record<string, unknown>> {
    const template = await this.get(name);
    if (parameters === null || typeof parameters !== 'object' || Array.isArray(parameters))
      throw new InputError('parameters', 'must be an object of parameter name → value');
    const values = resolveParameters(template.parameters, parameters);
    return fillPlaceholders(template.workflow, values) as Record<string, unknown>;
  }
}

type TemplateRow = {
  name: string;
  description: string | null;
  orchestration_pattern: string | null;
  template_data: string;
  parameters: string;
  is_public: boolean | number;
};

function templateOf(row: TemplateRow): Template {
  return {
    name: row.name,
    description: row.description,
    pattern: row.orchestration_pattern as Template['pattern'],
    parameters: fromDbJson<TemplateParameter[]>(row.parameters) ?? [],
    workflow: fromDbJson<Record<string, unknown>>(row.template_data) ?? {},
    builtin: false,
    isPublic: fromDbBool(row.is_public),
  };
}
