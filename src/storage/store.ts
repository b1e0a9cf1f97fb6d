import type { Caller } from './caller.js';
import { openDatabase, type DatabaseHandle, type OpenOptions } from './connect.js';
import { assertMigrated, migrate } from './migrator.js';
import * as agents from './repositories/agents.js';
import * as apiKeys from './repositories/api-keys.js';
import * as audit from './repositories/audit-logs.js';
import * as authFailures from './repositories/auth-failures.js';
import * as llm from './repositories/llm.js';
import * as records from './repositories/records.js';
import * as secrets from './repositories/secrets.js';
import * as users from './repositories/users.js';
import * as workflows from './repositories/workflows.js';

/**
 * The storage API. Operations on owned rows hang off `as(caller)`, so they cannot be called
 * without an identity; `system` holds the few that run before one is known (authentication,
 * first-start bootstrap) or on behalf of Swarm itself.
 */
export class Store {
  private constructor(readonly handle: DatabaseHandle) {}

  /** Opens the database, and migrates it unless told not to (then it must already be current). */
  static async open(url: string, options: OpenOptions & { migrate?: boolean } = {}): Promise<Store> {
    const handle = await openDatabase(url, options);
    try {
      if (options.migrate ?? true) await migrate(handle);
      else await assertMigrated(handle);
    } catch (error) {
      await handle.close();
      throw error;
    }
    return new Store(handle);
  }

  get dialect(): DatabaseHandle['dialect'] {
    return this.handle.dialect;
  }

  readonly system = {
    insertUserIfAbsent: (user: users.NewUser) => users.insertUserIfAbsent(this.handle.db, user),
    findUserById: (id: string) => users.findUserById(this.handle.db, id),
    findUserByEmail: (email: string) => users.findUserByEmail(this.handle.db, email),
    findFirstAdmin: () => users.findFirstAdmin(this.handle.db),
    findApiKeyByHash: (hash: string) => apiKeys.findApiKeyByHash(this.handle.db, hash),
    touchApiKey: (id: string, at: string) => apiKeys.touchApiKey(this.handle.db, id, at),
    recordAudit: (entry: audit.AuditEntry) => audit.recordAudit(this.handle.db, entry),
    /** Failed authentications, added to their window's counts (src/auth/failures.ts). */
    addAuthFailures: (counts: readonly authFailures.AuthFailureCount[]) =>
      authFailures.addAuthFailures(this.handle.db, this.handle.dialect, counts),
    pruneAuthFailures: (before: string) => authFailures.pruneAuthFailures(this.handle.db, before),
    /** Master-key rotation: every owner's secrets, in one transaction. */
    reencryptSecrets: (version: number, reseal: (secret: secrets.SealedSecret) => Buffer) =>
      secrets.reencryptSecrets(this.handle.db, this.handle.dialect, version, reseal),
    countSecretsByKeyVersion: () => secrets.countSecretsByKeyVersion(this.handle.db),
    /** Master-key rotation of the sealed text columns (webhook signing secrets). */
    resealTexts: (reseal: (sealed: string, binding: { id: string; ownerId: string }) => string | null) =>
      secrets.resealTexts(this.handle.db, this.handle.dialect, reseal),
    countSealedTextsByKeyVersion: () => secrets.countSealedTextsByKeyVersion(this.handle.db),
    /** The worker: artifacts, messages and usage agents reported, for their owners. */
    insertReports: (batch: records.ReportBatch) =>
      records.insertReports(this.handle.db, this.handle.dialect, batch),
  };

  /** The operations a caller may perform, each scoped to rows the caller owns. */
  as(caller: Caller) {
    const db = this.handle.db;
    const dialect = this.handle.dialect;
    return {
      caller,
      agents: {
        insert: (agent: agents.NewAgent) => agents.insertAgent(db, caller, agent),
        find: (name: string, version: string) => agents.findAgent(db, caller, name, version),
        list: (filters?: agents.AgentFilters) => agents.listAgents(db, dialect, caller, filters),
        setStatus: (name: string, version: string | undefined, status: string) =>
          agents.setAgentStatus(db, caller, name, version, status),
      },
      workflows: {
        insert: (workflow: workflows.NewWorkflow, state: { enabled: boolean; status: string }) =>
          workflows.insertWorkflow(db, caller, workflow, state),
        find: (name: string, version: string) => workflows.findWorkflow(db, caller, name, version),
        versions: (name?: string) => workflows.listWorkflowVersions(db, caller, name),
        setState: (name: string, state: { enabled?: boolean; status?: string }) =>
          workflows.setWorkflowState(db, caller, name, state),
      },
      apiKeys: {
        create: (key: apiKeys.NewApiKey) => apiKeys.createApiKey(db, caller, key),
        list: () => apiKeys.listApiKeys(db, caller),
        revoke: (id: string) => apiKeys.revokeApiKey(db, caller, id),
      },
      secrets: {
        list: () => secrets.listSecrets(db, caller),
        set: (target: { name: string; workflow?: string }, seal: secrets.Seal) =>
          secrets.setSecret(db, dialect, caller, target, seal),
        remove: (name: string, workflow?: string) =>
          secrets.removeSecret(db, dialect, caller, name, workflow),
        /** With their encrypted bytes, for decrypting only. */
        sealed: (names: readonly string[], workflow?: string) =>
          secrets.sealedSecrets(db, caller, names, workflow),
      },
      audit: {
        record: (entry: Omit<audit.AuditEntry, 'caller'>) => audit.recordAudit(db, { ...entry, caller }),
        list: (limit?: number) => audit.listAudit(db, caller, limit),
        /** Failed authentications counted per window: all for admins, their own for members. */
        authFailures: (filters?: authFailures.AuthFailureFilters) =>
          authFailures.listAuthFailures(db, caller, filters),
      },
      users: {
        me: () => users.findUserById(db, caller.userId),
      },
      records: {
        ownsRun: (runId: string) => records.ownsRun(db, caller, runId),
        runArtifacts: (runId: string) => records.listRunArtifacts(db, caller, runId),
        artifact: (id: string) => records.findArtifact(db, caller, id),
        runMessages: (runId: string) => records.listRunMessages(db, caller, runId),
      },
      llm: {
        providers: () => llm.listProviders(db, caller),
        provider: (name: string) => llm.findProvider(db, caller, name),
        defaultProvider: () => llm.findDefaultProvider(db, caller),
        setProvider: (provider: llm.NewLlmProvider) => llm.setProvider(db, dialect, caller, provider),
        removeProvider: (name: string) => llm.removeProvider(db, dialect, caller, name),
        /** The agent_configurations row that applies to the agent in the run's workflow. */
        configuration: (agent: { name: string; version: string }, runId: string | null) =>
          llm.findAgentConfiguration(db, caller, agent, runId),
        recordUsage: (usage: llm.LlmUsage) => llm.recordLlmUsage(db, dialect, caller, usage),
      },
    };
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

export type CallerStore = ReturnType<Store['as']>;
