import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/index.js';
import { parseDatabaseUrl } from '../src/storage/index.js';

describe('configuration', () => {
  it('defaults to a SQLite file under ./.swarm and port 7373', () => {
    const config = loadConfig({}, '/srv/app');
    expect(config).toMatchObject({
      home: '/srv/app/.swarm',
      port: 7373,
      host: '127.0.0.1',
      databaseUrl: 'sqlite:/srv/app/.swarm/swarm.db',
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads SWARM_HOME, SWARM_PORT, DATABASE_URL', () => {
    const config = loadConfig(
      { SWARM_HOME: 'data', SWARM_PORT: '8080', DATABASE_URL: 'postgres://u@h/db' },
      '/srv',
    );
    expect(config).toMatchObject({
      home: '/srv/data',
      port: 8080,
      databaseUrl: 'postgres://u@h/db',
      serverUrl: 'http://127.0.0.1:8080',
    });
  });

  it.each([
    [{ SWARM_PORT: '70000' }, /^SWARM_PORT: /],
    [{ SWARM_PORT: '1.5' }, /^SWARM_PORT: /],
    [{ SWARM_LOG_LEVEL: 'loud' }, /^SWARM_LOG_LEVEL: /],
    [{ SWARM_URL: 'not a url' }, /^SWARM_URL: /],
    [{ SWARM_MAX_EVENT_DEPTH: '0' }, /^SWARM_MAX_EVENT_DEPTH: must be an integer from 1/],
    [{ SWARM_ALERT_AGENT_FAILURES: '0' }, /^SWARM_ALERT_AGENT_FAILURES: must be an integer from 1/],
    [{ SWARM_ALERT_SLOW_FACTOR: '1' }, /^SWARM_ALERT_SLOW_FACTOR: must be a number over 1/],
    [{ SWARM_ALERT_SLOW_FACTOR: 'fast' }, /^SWARM_ALERT_SLOW_FACTOR: /],
  ])('names the bad variable in %j', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('reads the event loop limit SWARM_MAX_EVENT_DEPTH (default 8)', () => {
    expect(loadConfig({}).maxEventDepth).toBe(8);
    expect(loadConfig({ SWARM_MAX_EVENT_DEPTH: '3' }).maxEventDepth).toBe(3);
  });

  it('reads the alert thresholds (docs/alerts.md)', () => {
    expect(loadConfig({}).alerts).toMatchObject({ agentFailures: 5, intervalMs: 5000, slowFactor: 2 });
    expect(
      loadConfig({
        SWARM_ALERT_AGENT_FAILURES: '3',
        SWARM_ALERT_SLOW_FACTOR: '1.5',
        SWARM_ALERT_SLOW_WINDOW_MIN: '30',
      }).alerts,
    ).toMatchObject({ agentFailures: 3, slowFactor: 1.5, slowWindowMinutes: 30 });
  });

  it('parses the database URL forms', () => {
    expect(parseDatabaseUrl('postgresql://u@h:5432/db')).toEqual({
      dialect: 'postgres',
      connectionString: 'postgresql://u@h:5432/db',
    });
    expect(parseDatabaseUrl('sqlite:/tmp/a.db')).toEqual({
      dialect: 'sqlite',
      file: '/tmp/a.db',
      synchronous: 'FULL',
    });
    expect(parseDatabaseUrl('sqlite:///tmp/a.db?synchronous=normal')).toMatchObject({
      file: '/tmp/a.db',
      synchronous: 'NORMAL',
    });
    expect(parseDatabaseUrl('file:rel.db', '/w')).toMatchObject({ file: path.join('/w', 'rel.db') });
    expect(parseDatabaseUrl('./x.db', '/w')).toMatchObject({ dialect: 'sqlite', file: '/w/x.db' });
    expect(() => parseDatabaseUrl('mysql://x')).toThrow(/unsupported database URL scheme "mysql:"/);
    expect(() => parseDatabaseUrl('sqlite:')).toThrow(/no file path/);
    expect(() => parseDatabaseUrl('  ')).toThrow(/empty/);
  });
});

describe('configuration of users and sessions', () => {
  it('defaults to 12 h idle, 7 days in all, Secure cookies on TLS only, a generated admin password', () => {
    const config = loadConfig({}, '/srv');
    expect(config).toMatchObject({ sessionIdleMinutes: 720, sessionMaxHours: 168, cookieSecure: false });
    expect(config.adminPassword).toBeUndefined();
  });

  it('reads SWARM_ADMIN_PASSWORD without ever showing it', () => {
    const config = loadConfig({ SWARM_ADMIN_PASSWORD: 'a long admin password' }, '/srv');
    expect(config.adminPassword).toBe('a long admin password');
    expect(JSON.stringify(config)).not.toContain('a long admin password');
    expect(() => loadConfig({ SWARM_ADMIN_PASSWORD: 'short' }, '/srv')).toThrow(
      /^SWARM_ADMIN_PASSWORD: must be 12 characters at least, got 5$/,
    );
  });

  it('reads the session settings, naming a bad one', () => {
    const config = loadConfig(
      { SWARM_SESSION_IDLE_MINUTES: '30', SWARM_SESSION_MAX_HOURS: '24', SWARM_COOKIE_SECURE: 'true' },
      '/srv',
    );
    expect(config).toMatchObject({ sessionIdleMinutes: 30, sessionMaxHours: 24, cookieSecure: true });
    expect(() => loadConfig({ SWARM_SESSION_IDLE_MINUTES: '0' }, '/srv')).toThrow(
      /SWARM_SESSION_IDLE_MINUTES/,
    );
    expect(() => loadConfig({ SWARM_COOKIE_SECURE: 'maybe' }, '/srv')).toThrow(/SWARM_COOKIE_SECURE/);
  });
});
