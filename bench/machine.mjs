// What the figures were measured on, and the local Redis the BullMQ row needs.
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import IORedis from 'ioredis';
import pg from 'pg';
import { sleep } from './lib.mjs';

/**
 * @param {string} pgUrl
 * @param {string | null} redisVersion  from ensureRedis
 */
export async function getMachineInfo(pgUrl, redisVersion) {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    ...(await postgresInfo(pgUrl)),
    redis: redisVersion,
  };
}

/** @param {string} url */
async function postgresInfo(url) {
  const c = new pg.Client({ connectionString: url });
  try {
    await c.connect();
    const { rows } = await c.query(
      `select name, setting, unit from pg_settings
       where name in ('server_version', 'fsync', 'synchronous_commit', 'shared_buffers')`,
    );
    /** @type {Record<string, string>} */
    const s = Object.fromEntries(rows.map((r) => [r.name, r.setting]));
    // Durability settings decide a PostgreSQL queue's ceiling; keep them next to the figures.
    return {
      postgres: s.server_version ?? null,
      postgresSettings: {
        fsync: s.fsync,
        synchronous_commit: s.synchronous_commit,
        shared_buffers_8kB: s.shared_buffers,
      },
    };
  } catch (err) {
    console.error(`PostgreSQL at ${redact(url)} unreachable: ${err instanceof Error ? err.message : err}`);
    return { postgres: null };
  } finally {
    await c.end().catch(() => {});
  }
}

/**
 * Returns the Redis version, starting a local, non-persistent redis-server first if none answers
 * (the same command CI uses). null when there is no Redis to be had: the BullMQ row is skipped.
 * @param {string} url
 */
export async function ensureRedis(url) {
  let info = await redisCommand(url, ['info', 'server']).catch(() => null);
  const { hostname, port } = new URL(url);
  if (info === null && ['127.0.0.1', 'localhost'].includes(hostname)) {
    await mkdir('/var/lib/redis', { recursive: true }).catch(() => {});
    await mkdir('/var/log/redis', { recursive: true }).catch(() => {});
    const started = await new Promise((resolve) => {
      const p = spawn(
        'redis-server',
        [
          '--daemonize',
          'yes',
          '--bind',
          '127.0.0.1',
          '-::1',
          '--port',
          port || '6379',
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          '/var/lib/redis',
          '--logfile',
          '/var/log/redis/ci.log',
        ],
        { stdio: 'ignore' },
      );
      p.on('error', () => resolve(false));
      p.on('exit', (code) => resolve(code === 0));
    });
    for (let i = 0; started && info === null && i < 50; i++) {
      await sleep(100);
      info = await redisCommand(url, ['info', 'server']).catch(() => null);
    }
  }
  if (info === null) console.error(`Redis at ${url} unreachable: the BullMQ row is skipped`);
  return info === null ? null : (/redis_version:(\S+)/.exec(String(info))?.[1] ?? 'unknown');
}

/**
 * One command on a short-lived connection that gives up instead of retrying forever.
 * @param {string} url
 * @param {string[]} argv
 */
export async function redisCommand(url, argv) {
  const r = new IORedis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => {});
  try {
    await r.connect();
    return await r.call(argv[0] ?? 'ping', ...argv.slice(1));
  } finally {
    r.disconnect();
  }
}

/** @param {string} url */
const redact = (url) => url.replace(/\/\/[^@/]*@/, '//…@');
