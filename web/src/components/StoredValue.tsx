import { useState } from 'react';
import { errorText } from './admin-format.js';
import './stored-value.css';

/**
 * What the API answers in place of a value kept as a blob (docs/payloads.md, "Links instead of
 * huge answers"): lists, and single views of a value over 16 MiB.
 */
export interface BlobLink {
  readonly $blob: string;
  readonly size: number;
  readonly url: string;
}

/** Above this the value is only offered as a download: parsing and printing it would stall the tab. */
const SHOW_MAX = 4 * 1000 * 1000;

export function isBlobLink(value: unknown): value is BlobLink {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  if (keys.length !== 3) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.$blob === 'string' &&
    /^sha256:[0-9a-f]{64}$/.test(v.$blob) &&
    typeof v.size === 'number' &&
    // Only a path on this server, so the link carries the session cookie and nothing else.
    typeof v.url === 'string' &&
    v.url.startsWith('/api/v1/blobs/')
  );
}

export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let n = bytes / 1000;
  let unit = 0;
  while (n >= 1000 && unit < units.length - 1) {
    n /= 1000;
    unit += 1;
  }
  return `${n.toFixed(1)} ${units[unit]}`;
}

/** A task, run, event or delivery JSON value: printed, or a link to it when the API sent one. */
export function StoredValue({ value, className }: { value: unknown; className?: string }) {
  if (!isBlobLink(value)) return <pre className={className}>{JSON.stringify(value, null, 2)}</pre>;
  return <BlobValue link={value} className={className} />;
}

function BlobValue({ link, className }: { link: BlobLink; className: string | undefined }) {
  const [shown, setShown] = useState<{ value: unknown } | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const hex = link.$blob.slice('sha256:'.length);

  async function show() {
    setLoading(true);
    setError(null);
    try {
      // Not api(): the URL is already the absolute path the server gave, and its body is the value.
      const response = await fetch(link.url, {
        credentials: 'same-origin',
        headers: { accept: 'application/json' },
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      setShown({ value: (await response.json()) as unknown });
    } catch (e) {
      setError(errorText(e));
    } finally {
      setLoading(false);
    }
  }

  return (
    <div className="stored-value">
      <p className="stored-value-line">
        <span className="muted">Stored value, {formatBytes(link.size)}</span> —{' '}
        <a href={link.url} download={`${hex}.json`}>
          Download
        </a>
        {link.size <= SHOW_MAX && shown === null && (
          <button type="button" className="link" onClick={() => void show()} disabled={loading}>
            {loading ? 'Loading…' : 'Show'}
          </button>
        )}
      </p>
      {error !== null && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {shown !== null && <pre className={className}>{JSON.stringify(shown.value, null, 2)}</pre>}
    </div>
  );
}
