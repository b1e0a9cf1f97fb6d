import type { ReactNode } from 'react';
import type { Route } from './router.js';
import { OverviewPage } from './pages/Overview.js';
import { RunsPage } from './pages/Runs.js';
import { HistoryPage } from './pages/History.js';
import { WorkflowsPage } from './pages/Workflows.js';
import { TemplatesPage } from './pages/Templates.js';
import { AgentsPage } from './pages/Agents.js';
import { TriggersPage } from './pages/Triggers.js';
import { EventsPage } from './pages/Events.js';
import { WebhooksPage } from './pages/Webhooks.js';
import { TasksPage } from './pages/Tasks.js';
import { LlmPage } from './pages/Llm.js';
import { SecretsPage } from './pages/Secrets.js';
import { McpServersPage } from './pages/McpServers.js';
import { ConnectorsPage } from './pages/Connectors.js';
import { KeysPage } from './pages/Keys.js';
import { UsersPage } from './pages/Users.js';
import { AuditPage } from './pages/Audit.js';
import { AlertsBadge, AlertsPage } from './pages/Alerts.js';
import { ApprovalsBadge, ApprovalsPage } from './pages/Approvals.js';

/**
 * The dashboard's views: the first path segment picks one. `scope` hides a view (and its nav
 * entry) from users who may not read it; `nav` is its label in the sidebar.
 */
export interface View {
  readonly path: string;
  readonly nav: string;
  readonly scope: string;
  readonly render: (route: Route) => ReactNode;
  /** A view reached from another one's page: no nav entry of its own, that one's is current. */
  readonly within?: string;
  /** Shown next to the nav label (a count that needs attention). */
  readonly badge?: () => ReactNode;
}

export const VIEWS: readonly View[] = [
  {
    path: 'overview',
    nav: 'Overview',
    scope: 'runs:read',
    render: (route) => <OverviewPage route={route} />,
  },
  { path: 'runs', nav: 'Runs', scope: 'runs:read', render: (route) => <RunsPage route={route} /> },
  // Finished runs as archived, kept after the retention policy prunes their rows.
  { path: 'history', nav: 'History', scope: 'runs:read', render: (route) => <HistoryPage route={route} /> },
  {
    path: 'workflows',
    nav: 'Workflows',
    scope: 'workflows:read',
    render: (route) => <WorkflowsPage route={route} />,
  },
  // The "new workflow" page (workflows made from templates), reached from the Workflows page.
  {
    path: 'templates',
    nav: 'New workflow',
    scope: 'workflows:read',
    within: 'workflows',
    render: (route) => <TemplatesPage route={route} />,
  },
  { path: 'agents', nav: 'Agents', scope: 'agents:read', render: (route) => <AgentsPage route={route} /> },
  // Steps waiting for a person: the badge counts those the user may decide.
  {
    path: 'approvals',
    nav: 'Approvals',
    scope: 'runs:read',
    render: () => <ApprovalsPage />,
    badge: () => <ApprovalsBadge />,
  },
  { path: 'triggers', nav: 'Triggers', scope: 'triggers:read', render: () => <TriggersPage /> },
  { path: 'events', nav: 'Events', scope: 'events:read', render: () => <EventsPage /> },
  { path: 'webhooks', nav: 'Webhooks', scope: 'webhooks:read', render: () => <WebhooksPage /> },
  {
    path: 'alerts',
    nav: 'Alerts',
    scope: 'alerts:read',
    render: () => <AlertsPage />,
    badge: () => <AlertsBadge />,
  },
  { path: 'tasks', nav: 'Tasks', scope: 'tasks:read', render: (route) => <TasksPage route={route} /> },
  // Budgets and providers: what model calls may spend, and where they go.
  { path: 'llm', nav: 'LLM', scope: 'providers:read', render: () => <LlmPage /> },
  { path: 'secrets', nav: 'Secrets', scope: 'secrets:read', render: () => <SecretsPage /> },
  { path: 'mcp', nav: 'MCP servers', scope: 'mcp:read', render: () => <McpServersPage /> },
  { path: 'connectors', nav: 'Connectors', scope: 'connectors:read', render: () => <ConnectorsPage /> },
  // Keys also lists the user's own sessions.
  { path: 'keys', nav: 'Keys', scope: 'keys:read', render: () => <KeysPage /> },
  { path: 'users', nav: 'Users', scope: 'users:admin', render: () => <UsersPage /> },
  { path: 'audit', nav: 'Audit', scope: 'audit:read', render: () => <AuditPage /> },
];
