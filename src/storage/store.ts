import type { Caller } from './caller.js';
import { openDatabase, type DatabaseHandle, type OpenOptions } from './connect.js';
import { assertMigrated, migrate } from './migrator.js';
import * as agents from './repositories/agents.js';
import * as alerts from './repositories/alerts.js';
import * as apiKeys from './repositories/api-keys.js';
import * as audit from './repositories/audit-logs.js';
import * as authFailures from './repositories/auth-failures.js';
import * as budgets from './repositories/budgets.js';
import * as connectors from './repositories/connectors.js';
import * as llm from './repositories/llm.js';
import * as mcpServers from './repositories/mcp-servers.js';
import * as rateLimits from './repositories/rate-limits.js';
import * as records from './repositories/records.js';
import * as secrets from './repositories/secrets.js';
import * as sessions from './repositories/sessions.js';
import * as loginAttempts from './repositories/login-attempts.js';
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
    countUsers: () => users.countUsers(this.handle.db),
    /** Sign-in (src/auth/login.ts): the user by email with its password hash; the sign-in itself. */
    findUserCredentials: (email: string) => users.findUserCredentials(this.handle.db, email),
    recordSignIn: (id: string, at: string, newHash?: string) =>
      users.recordSignIn(this.handle.db, id, at, newHash),
    /** The first-start admin's password (src/auth/bootstrap.ts). */
    setPasswordHash: (id: string, hash: string) => users.setPasswordHash(this.handle.db, id, hash),
    /** Cookie sessions (src/auth/sessions.ts). */
    sessions: {
      create: (caller: Caller, session: sessions.NewSession) =>
        sessions.createSession(this.handle.db, this.handle.dialect, caller, session),
      findByTokenHash: (hash: string) => sessions.findSessionByTokenHash(this.handle.db, hash),
      touch: (id: string, lastSeenAt: string, idleExpiresAt: string) =>
        sessions.touchSession(this.handle.db, id, lastSeenAt, idleExpiresAt),
      prune: (before: string) => sessions.pruneSessions(this.handle.db, before),
    },
    /** Failed sign-ins per account and address (src/auth/login-throttle.ts). */
    loginAttempts: {
      read: (subjects: readonly loginAttempts.LoginSubject[]) =>
        loginAttempts.readLoginAttempts(this.handle.db, subjects),
      addFailure: (subject: loginAttempts.LoginSubject, at: string, forgetBefore: string) =>
        loginAttempts.addLoginFailure(this.handle.db, subject, at, forgetBefore),
      lock: (subject: loginAttempts.LoginSubject, until: string) =>
        loginAttempts.lockLoginSubject(this.handle.db, subject, until),
      clear: (subject: loginAttempts.LoginSubject) =>
        loginAttempts.clearLoginFailures(this.handle.db, subject),
      prune: (before: string) => loginAttempts.pruneLoginAttempts(this.handle.db, before),
    },
    findApiKeyByHash: (hash: string) => apiKeys.findApiKeyByHash(this.handle.db, hash),
    /** Keys' last use, `id → ISO time`, batched by the authenticator (src/auth/authenticate.ts). */
    touchApiKeys: (touches: ReadonlyMap<string, string>) =>
      apiKeys.touchApiKeys(this.handle.db, this.handle.dialect, touches),
    recordAudit: (entry: audit.AuditEntry) => audit.recordAudit(this.handle.db, entry),
    /** Retention (SWARM_AUDIT_RETENTION_DAYS): audit rows older than `before`, a batch at a time. */
    pruneAudit: (before: string, limit?: number) => audit.pruneAudit(this.handle.db, before, limit),
    /** Failed authentications, added to their window's counts (src/auth/failures.ts). */
    addAuthFailures: (counts: readonly authFailures.AuthFailureCount[]) =>
      authFailures.addAuthFailures(this.handle.db, this.handle.dialect, counts),
    pruneAuthFailures: (before: string) => authFailures.pruneAuthFailures(this.handle.db, before),
    /** API-key rate limits (src/auth/rate-limit.ts): a key's limits, and its windows' counts. */
    findRateLimits: (keyId: string) => rateLimits.findRateLimits(this.handle.db, keyId),
    reserveRateLimit: (keyId: string, asks: readonly rateLimits.RateLimitAsk[]) =>
      rateLimits.reserveRateLimit(this.handle.db, keyId, asks),
    releaseRateLimit: (keyId: string, release: Parameters<typeof rateLimits.releaseRateLimit>[2]) =>
      rateLimits.releaseRateLimit(this.handle.db, keyId, release),
    pruneRateLimits: (before: string) => rateLimits.pruneRateLimits(this.handle.db, before),
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
        insert: (agent: agents.NewAgent) => agents.insertAgent(db, dialect, caller, agent),
        find: (name: string, version: string) => agents.findAgent(db, caller, name, version),
        list: (filters?: agents.AgentFilters) => agents.listAgents(db, dialect, caller, filters),
        setStatus: (name: string, version: string | undefined, status: string) =>
          agents.setAgentStatus(db, dialect, caller, name, version, status),
      },
      workflows: {
        insert: (workflow: workflows.NewWorkflow, state: { enabled: boolean; status: string }) =>
          workflows.insertWorkflow(db, dialect, caller, workflow, state),
        find: (name: string, version: string) => workflows.findWorkflow(db, caller, name, version),
        versions: (name?: string) => workflows.listWorkflowVersions(db, caller, name),
        setState: (name: string, state: { enabled?: boolean; status?: string }) =>
          workflows.setWorkflowState(db, dialect, caller, name, state),
      },
      apiKeys: {
        create: (key: apiKeys.NewApiKey) => apiKeys.createApiKey(db, dialect, caller, key),
        list: () => apiKeys.listApiKeys(db, caller),
        revoke: (id: string) => apiKeys.revokeApiKey(db, dialect, caller, id),
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
        /**
         * A row on its own, outside any change's transaction: for security events that must be
         * kept although what they refused rolled back. A change records its row in its own
         * transaction instead (recordAudit(trx, …) or auditedWrite).
         */
        record: (entry: Omit<audit.AuditEntry, 'caller'>) => audit.recordAudit(db, { ...entry, caller }),
        /** A page of audit rows, newest first: every owner's for admins, else the caller's. */
        list: (filters?: audit.AuditFilters) => audit.listAudit(db, caller, filters),
        /** Failed authentications counted per window: all for admins, their own for members. */
        authFailures: (filters?: authFailures.AuthFailureFilters) =>
          authFailures.listAuthFailures(db, caller, filters),
      },
      users: {
        me: () => users.findUserById(db, caller.userId),
        /** Administration: admins only (FORBIDDEN otherwise). `ref` is an id or an email. */
        list: () => users.listUsers(db, caller),
        find: (ref: string) => users.findUser(db, caller, ref),
        create: (user: users.NewUser) => users.createUser(db, dialect, caller, user),
        update: (ref: string, change: users.UserChange) => users.updateUser(db, dialect, caller, ref, change),
        setPassword: (ref: string, passwordHash: string) =>
          users.setPassword(db, dialect, caller, ref, passwordHash),
      },
      connectors: {
        insert: (connector: connectors.NewConnector) => connectors.insertConnector(db, caller, connector),
        list: () => connectors.listConnectors(db, caller),
        /** By name, or by id when no name matches. */
        find: (nameOrId: string) => connectors.findConnector(db, caller, nameOrId),
        create: (connector: connectors.NewConnector) =>
          connectors.createConnector(db, dialect, caller, connector),
        update: (id: string, change: Parameters<typeof connectors.updateConnector>[4]) =>
          connectors.updateConnector(db, dialect, caller, id, change),
        remove: (id: string) => connectors.removeConnector(db, dialect, caller, id),
      },
      sessions: {
        /** The caller's working sessions. */
        list: (now: string) => sessions.listSessions(db, caller, now),
        /** One of the caller's sessions; an admin may revoke anyone's. */
        revoke: (id: string) => sessions.revokeSession(db, dialect, caller, id),
      },
      records: {
        ownsRun: (runId: string) => records.ownsRun(db, caller, runId),
        runArtifacts: (runId: string) => records.listRunArtifacts(db, caller, runId),
        artifact: (id: string) => records.findArtifact(db, caller, id),
        runMessages: (runId: string) => records.listRunMessages(db, caller, runId),
        stepConversation: (runId: string, stepId: string, limit = 5000) =>
          records.stepConversation(db, caller, runId, stepId, limit),
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
      budgets: {
        list: () => budgets.listOwnerBudgets(db, caller),
        set: (
          period: budgets.BudgetPeriod,
          limits: { readonly maxTokens: number | null; readonly maxCostUsd: number | null },
        ) => budgets.setOwnerBudget(db, caller, period, limits),
        remove: (period: budgets.BudgetPeriod) => budgets.deleteOwnerBudget(db, caller, period),
        /** Every cap on the next model call of a run's step (or of a task outside runs). */
        limits: (at: { runId: string | null; stepId: string | null }) => budgets.spendLimits(db, caller, at),
        reserveProviderRequest: (provider: string, windowStart: Date, limits: budgets.ProviderRateLimits) =>
          budgets.reserveProviderRequest(db, dialect, caller, provider, windowStart, limits),
        addProviderTokens: (provider: string, windowStart: Date, tokens: number) =>
          budgets.addProviderTokens(db, caller, provider, windowStart, tokens),
      },
      /** Alerts Swarm raised for the caller (src/alerts/ raises and resolves them). */
      alerts: {
        list: (filters?: alerts.AlertFilters) => alerts.listAlerts(db, caller, filters),
        find: (id: string) => alerts.findAlert(db, caller, id),
        openCounts: () => alerts.countOpenAlerts(db, caller),
      },
      /** MCP servers: what a server runs or where it is, and the NAMES of the secrets it gets. */
      mcp: {
        servers: () => mcpServers.listMcpServers(db, caller),
        server: (name: string) => mcpServers.findMcpServer(db, caller, name),
        setServer: (server: mcpServers.NewMcpServer, options?: { createOnly?: boolean }) =>
          mcpServers.setMcpServer(db, dialect, caller, server, options),
        removeServer: (name: string) => mcpServers.removeMcpServer(db, dialect, caller, name),
      },
    };
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

export type CallerStore = ReturnType<Store['as']>;
