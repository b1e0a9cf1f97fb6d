/**
 * Browser tests: Debian's chromium (never a downloaded browser) driven by playwright-core,
 * against a real `swarm start` (startServer) on a fresh database. Screenshots go to
 * test/browser/screenshots/ (not committed; a few are copied into docs/).
 */
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { loadConfig } from '../../src/config/index.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import { createTestDatabase, type TestDatabase, type TestDialect } from '../helpers/databases.js';

export const CHROMIUM = process.env.SWARM_CHROMIUM ?? '/usr/bin/chromium';
/** CI (.ci/run) sets SWARM_REQUIRE_BROWSER=1: there a missing chromium fails instead of skipping. */
const REQUIRED = process.env.SWARM_REQUIRE_BROWSER === '1';
export const HAVE_BROWSER = fs.existsSync(CHROMIUM);
if (!HAVE_BROWSER) {
  if (REQUIRED) throw new Error(`browser tests: no chromium at ${CHROMIUM} (apt-get install chromium)`);
  console.warn(`Browser suite: skipped (no chromium at ${CHROMIUM}; .ci/run installs it)`);
}

export const SCREENSHOTS = path.join(import.meta.dirname, 'screenshots');
export const ADMIN = { email: 'admin@localhost', password: 'browser-test-admin-pw' };

export interface Swarm {
  readonly url: string;
  readonly server: RunningServer;
  readonly testDb: TestDatabase;
  readonly home: string;
  close(): Promise<void>;
}

/** A real server on a fresh database, with the examples, its admin's password known. */
export async function startSwarm(dialect: TestDialect, env: Record<string, string> = {}): Promise<Swarm> {
  const testDb = await createTestDatabase(dialect);
  const home = path.join(testDb.dir, 'home');
  const server = await startServer(
    loadConfig({
      DATABASE_URL: testDb.url,
      SWARM_HOME: home,
      SWARM_PORT: '0',
      SWARM_LOG_LEVEL: process.env.SWARM_TEST_LOG_LEVEL ?? 'silent',
      SWARM_ADMIN_PASSWORD: ADMIN.password,
      // A dashboard built elsewhere (npx vite build --outDir …), else the package's dist/web.
      ...(process.env.SWARM_DASHBOARD_DIR ? { SWARM_DASHBOARD_DIR: process.env.SWARM_DASHBOARD_DIR } : {}),
      ...env,
    }),
  );
  return {
    url: server.url,
    server,
    testDb,
    home,
    async close() {
      await server.close();
      await testDb.drop();
    },
  };
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A fresh context (its own cookies and storage) with a page on the dashboard. */
export async function openDashboard(
  browser: Browser,
  swarm: Swarm,
  viewport = { width: 1280, height: 800 },
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport, baseURL: swarm.url });
  const page = await context.newPage();
  page.on('pageerror', (error) => console.error('page error:', error));
  await page.goto('/');
  return { context, page };
}

export async function signIn(page: Page, user: { email: string; password: string } = ADMIN): Promise<void> {
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

export async function screenshot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}
