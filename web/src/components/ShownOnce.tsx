import { useEffect, useRef, useState } from 'react';
import './shown-once.css';

/**
 * A modal showing a value the server returns once (a new API key, a generated password), with a
 * copy button and a warning: closing it is the last time anyone sees the value.
 */
export function ShownOnce({
  title,
  label,
  value,
  onClose,
}: {
  title: string;
  label: string;
  value: string;
  onClose: () => void;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [copied, setCopied] = useState<'yes' | 'no' | null>(null);
  // Done: the value leaves the page in the same render, before the dialog closes (and before
  // the parent, told by `close`, drops it too), so a closed dialog never still holds it.
  const [done, setDone] = useState(false);

  useEffect(() => {
    const element = dialog.current;
    if (element !== null && !element.open) element.showModal();
  }, []);
  useEffect(() => {
    if (done) dialog.current?.close();
  }, [done]);

  async function copy() {
    try {
      await navigator.clipboard.writeText(value);
      setCopied('yes');
    } catch {
      // No clipboard (an insecure origin, a denied permission): the value is selectable.
      setCopied('no');
    }
  }

  return (
    <dialog
      ref={dialog}
      className="shown-once"
      aria-label={title}
      onClose={onClose}
      onCancel={(e) => {
        e.preventDefault();
        setDone(true);
      }}
    >
      <h2>{title}</h2>
      <p className="shown-once-warning" role="note">
        This is shown <strong>once</strong>. Copy it now: Swarm keeps only a hash and cannot show it again.
      </p>
      <label>
        {label}
        <input
          readOnly
          value={done ? '' : value}
          aria-label={label}
          onFocus={(e) => e.currentTarget.select()}
        />
      </label>
      <div className="shown-once-actions">
        <button type="button" onClick={() => void copy()}>
          Copy
        </button>
        <button type="button" className="secondary" onClick={() => setDone(true)}>
          Done
        </button>
        {copied === 'yes' && <span className="muted">Copied.</span>}
        {copied === 'no' && <span className="muted">Copy it by hand: the clipboard is not available.</span>}
      </div>
    </dialog>
  );
}
