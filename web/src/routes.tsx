import type { ReactNode } from 'react';
import type { Route } from './router.js';
import { RunsPage } from './pages/Runs.js';

/**
 * The dashboard's views: the first path segment picks one. `scope` hides a view (and its nav
 * entry) from users who may not read it; `nav` is its label in the sidebar.
 */
export interface View {
  readonly path: string;
  readonly nav: string;
  readonly scope: string;
  readonly render: (route: Route) => ReactNode;
}

export const VIEWS: readonly View[] = [
  { path: 'runs', nav: 'Runs', scope: 'runs:read', render: (route) => <RunsPage route={route} /> },
];
