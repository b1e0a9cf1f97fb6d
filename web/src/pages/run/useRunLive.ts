import { useCallback, useEffect, useRef, useState } from 'react';
import { get } from '../../api.js';
import { ENDED, type Attempt, type LogLine, type RunView } from './types.js';

/** Log lines kept in memory: a run with a 10,000-item fan-out writes far more than anyone reads here. */
const MAX_LOGS = 5000;

export interface RunLive {
  readonly run: RunView | null;
  readonly error: string | null;
  readonly logs: readonly LogLine[];
  /** How the page stays current: the event stream, or polling once the stream could not open. */
  readonly mode: 'stream' | 'poll' | 'ended';
  /** After a change (cancel, retry): read the run again and follow it again if it runs. */
  readonly refresh: (run?: RunView) => void;
}

/**
 * A run kept current without reloads: `GET /api/v1/runs/{id}/events` (server-sent events: the
 * run on every change, its log lines, its end) with the session cookie; if the stream cannot be
 * opened, the run is polled every second instead.
 */
export function useRunLive(id: string): RunLive {
  const [run, setRun] = useState<RunView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [logs, setLogs] = useState<LogLine[]>([]);
  const [mode, setMode] = useState<RunLive['mode']>('stream');
  // Bumped to follow the run again (a retried run runs again after its stream ended).
  const [generation, setGeneration] = useState(0);
  const lastLog = useRef<string | null>(null);

  useEffect(() => {
    setRun(null);
    setLogs([]);
    lastLog.current = null;
  }, [id]);

  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setInterval> | undefined;
    const after = lastLog.current === null ? '' : `?after=${encodeURIComponent(lastLog.current)}`;
    const source = new EventSource(`/api/v1/runs/${encodeURIComponent(id)}/events${after}`);
    let opened = false;
    setMode('stream');
    const poll = () =>
      get<RunView>(`/runs/${encodeURIComponent(id)}`)
        .then((r) => {
          if (!live) return;
          setRun(r);
          setError(null);
          if (ENDED.has(r.status)) {
            clearInterval(timer);
            setMode('ended');
          }
        })
        .catch((e: Error) => live && setError(e.message));
    source.addEventListener('open', () => (opened = true));
    source.addEventListener(
      'run',
      (e) => live && setRun(JSON.parse((e as MessageEvent<string>).data) as RunView),
    );
    source.addEventListener('log', (e) => {
      if (!live) return;
      const line = JSON.parse((e as MessageEvent<string>).data) as LogLine;
      lastLog.current = line.id;
      setLogs((old) =>
        old.length >= MAX_LOGS ? [...old.slice(old.length - MAX_LOGS + 1), line] : [...old, line],
      );
    });
    source.addEventListener('end', (e) => {
      // A browser EventSource reconnects when the server closes: the end closes it for good.
      source.close();
      if (!live) return;
      setRun(JSON.parse((e as MessageEvent<string>).data) as RunView);
      setMode('ended');
    });
    source.addEventListener('error', () => {
      // Before it ever opened (a 404, a proxy that buffers): poll instead. After, EventSource
      // reconnects by itself with Last-Event-ID.
      if (!live || opened || source.readyState !== EventSource.CLOSED) return;
      setMode('poll');
      void poll();
      timer = setInterval(poll, 1000);
    });
    return () => {
      live = false;
      source.close();
      clearInterval(timer);
    };
  }, [id, generation]);

  const refresh = useCallback((next?: RunView) => {
    if (next !== undefined) setRun(next);
    setGeneration((g) => g + 1);
  }, []);
  return { run, error, logs, mode, refresh };
}

/**
 * The run's attempts (`GET /api/v1/runs/{id}/attempts`), read again every 2 s while the run goes
 * on and once more when it ends. One page of `limit` tasks; `more` says whether there are others.
 */
export function useAttempts(id: string, status: string | undefined, limit = 2000) {
  const [attempts, setAttempts] = useState<Attempt[]>([]);
  const [more, setMore] = useState(false);
  const ended = status !== undefined && ENDED.has(status);
  useEffect(() => {
    let live = true;
    const load = () =>
      get<{ items: Attempt[]; next: string | null }>(
        `/runs/${encodeURIComponent(id)}/attempts?limit=${limit}`,
      )
        .then((page) => {
          if (!live) return;
          setAttempts(page.items);
          setMore(page.next !== null);
        })
        .catch(() => undefined);
    void load();
    if (ended) return () => void (live = false);
    const timer = setInterval(load, 2000);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [id, ended, status, limit]);
  return { attempts, more };
}
