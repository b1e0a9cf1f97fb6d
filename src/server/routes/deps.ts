import type { AuthFailureSink } from '../../auth/index.js';
import type { Engine } from '../../engine/index.js';
import type { Registry } from '../../registry/index.js';
import type { Keyring } from '../../secrets/index.js';
import type { Store } from '../../storage/index.js';

/** What the trigger, event and webhook routes need from the app. */
export interface RouteDeps {
  readonly store: Store;
  readonly registry: Registry;
  readonly engine: Engine;
  /** The master keys webhook secrets are sealed with (opened on first use). */
  keyring(): Keyring;
  /** Called when a run was started, so an in-process worker looks for its tasks at once. */
  readonly onRunStarted: () => void;
  /** Largest body `POST /hooks/<path>` accepts; larger ones get 413. */
  readonly webhookBodyLimit: number;
  /** Deepest nesting a body may have (SWARM_BODY_MAX_DEPTH). */
  readonly bodyMaxDepth: number;
  /** Where failed authentications (bad webhook signatures) are counted. */
  readonly failures: AuthFailureSink;
}
