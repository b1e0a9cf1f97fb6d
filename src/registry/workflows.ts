import semver from 'semver';
import { NotFoundError, SwarmError, type FieldIssue } from '../errors/index.js';
import type { CallerStore, WorkflowRecord } from '../storage/index.js';
import type { AgentRegistry } from './agents.js';
import { latest } from './agents.js';
import { contentHash } from './content-hash.js';
import { invalidDefinition } from './invalid.js';
import type { ValidationResult } from './types.js';
import { validateWorkflow, type NormalizedWorkflow } from './workflow/index.js';

export const WORKFLOW_STATES = ['draft', 'active', 'paused', 'archived'] as const;
export type WorkflowState = (typeof WORKFLOW_STATES)[number];

/** A workflow version as the API shows it. */
export interface WorkflowView {
  readonly id: string;
  readonly name: string;
  readonly version: string;
  readonly description: string | null;
  readonly enabled: boolean;
  readonly status: string;
  readonly trigger: unknown;
  readonly workflow: NormalizedWorkflow;
  readonly definition: unknown;
  readonly createdAt: string;
}

function viewOf(record: WorkflowRecord): WorkflowView {
  return {
    id: record.id,
    name: record.name,
    version: record.version,
    description: record.description,
    enabled: record.enabled,
    status: record.status,
    trigger: record.triggerConfig,
    workflow: record.steps as NormalizedWorkflow,
    definition: record.definition,
    createdAt: record.createdAt,
  };
}

/** Workflow operations of one caller. */
export class WorkflowRegistry {
  constructor(
    private readonly scoped: CallerStore,
    private readonly agents: AgentRegistry,
  ) {}

  /** Checks a definition against the caller's agents; stores nothing. */
  validate(document: unknown): Promise<ValidationResult<NormalizedWorkflow>> {
    return validateWorkflow(document, this.agents.resolver());
  }

  /**
   * Stores a definition as a version. The same version with the same content is a no-op; the
   * same version with other content is a conflict (a stored version never changes: runs pin it).
   * A new version inherits the workflow's `enabled` and `status`.
   */
  async apply(document: unknown): Promise<{ workflow: WorkflowView; created: boolean }> {
    const result = await this.validate(document);
    if (!result.ok) throw invalidDefinition('workflow definition', result.issues);
    const normalized = result.value;
    const hash = contentHash(document);
    const existing = await this.scoped.workflows.versions(normalized.name);
    const same = existing.find((w) => w.version === normalized.version);
    if (same !== undefined) return this.unchangedOrConflict(same, hash);
    const newest = latest(existing);
    const inserted = await this.scoped.workflows.insert(
      {
        name: normalized.name,
        version: normalized.version,
        description: normalized.description ?? null,
        triggerType: normalized.trigger.type,
        triggerConfig: normalized.trigger,
        steps: normalized,
        definition: document,
        variables: normalized.variables,
        onError: normalized.on_error ?? null,
        onSuccess: normalized.on_success ?? null,
        contentHash: hash,
        tags: [...normalized.tags],
      },
      { enabled: newest?.enabled ?? true, status: newest?.status ?? 'active' },
    );
    if (inserted !== null) return { workflow: viewOf(inserted), created: true };
    // Another request stored this version between the read and the insert.
    return this.unchangedOrConflict(
      (await this.scoped.workflows.find(normalized.name, normalized.version))!,
      hash,
    );
  }

  private unchangedOrConflict(
    existing: WorkflowRecord,
    hash: string,
  ): { workflow: WorkflowView; created: boolean } {
    if (existing.contentHash !== hash) {
      throw new SwarmError(
        'CONFLICT',
        `workflow ${existing.name}@${existing.version} already exists with different content; change its version to store a new one`,
        { context: { name: existing.name, version: existing.version } },
      );
    }
    return { workflow: viewOf(existing), created: false };
  }

  /** The latest version of each of the caller's workflows. */
  async list(): Promise<WorkflowView[]> {
    const byName = new Map<string, WorkflowRecord[]>();
    for (const record of await this.scoped.workflows.versions()) {
      byName.set(record.name, [...(byName.get(record.name) ?? []), record]);
    }
    return [...byName.values()].map((versions) => viewOf(latest(versions)!));
  }

  async get(name: string, version?: string): Promise<WorkflowView> {
    const record =
      version === undefined
        ? latest(await this.scoped.workflows.versions(name))
        : await this.scoped.workflows.find(name, version);
    if (record === undefined || record === null)
      throw new NotFoundError('workflow', version === undefined ? name : `${name}@${version}`);
    return viewOf(record);
  }

  async versions(name: string): Promise<WorkflowView[]> {
    const versions = await this.scoped.workflows.versions(name);
    if (versions.length === 0) throw new NotFoundError('workflow', name);
    return versions.map(viewOf).sort((a, b) => semver.compare(a.version, b.version));
  }

  async setState(name: string, state: { enabled?: boolean; status?: WorkflowState }): Promise<WorkflowView> {
    if (state.enabled === undefined && state.status === undefined) {
      const issue: FieldIssue = { field: 'body', message: 'give enabled or status' };
      throw invalidDefinition('workflow update', [issue]);
    }
    if ((await this.scoped.workflows.setState(name, state)) === 0) throw new NotFoundError('workflow', name);
    return this.get(name);
  }
}
