import {
  LoginService,
  LoginThrottle,
  SessionManager,
  type LoginThrottleOptions,
  type ScryptParams,
} from '../auth/index.js';
import type { Store } from '../storage/index.js';
import type { CookieSettings } from './session-auth.js';

/** Sign-in and cookie sessions, as the app is built with them. */
export interface SessionAppOptions {
  /** SWARM_SESSION_IDLE_MINUTES. @default 720 */
  readonly idleMinutes?: number;
  /** SWARM_SESSION_MAX_HOURS. @default 168 */
  readonly maxHours?: number;
  /** SWARM_COOKIE_SECURE: Secure cookies even on plain HTTP requests (behind a TLS proxy). @default false */
  readonly cookieSecure?: boolean;
  /** How new passwords are hashed; tests lower the cost. @default OWASP's (CURRENT_SCRYPT) */
  readonly passwordParams?: ScryptParams;
  /** Lockout thresholds and delays (src/auth/login-throttle.ts). */
  readonly throttle?: LoginThrottleOptions;
  /** Injectable clock for session expiry and lockouts, for tests. */
  readonly now?: () => number;
}

export interface People {
  readonly sessions: SessionManager;
  readonly login: LoginService;
  readonly cookie: CookieSettings;
  readonly passwordParams: ScryptParams | undefined;
}

export function createPeople(store: Store, options: SessionAppOptions = {}): People {
  const clock = options.now === undefined ? {} : { now: options.now };
  const sessions = new SessionManager(store, {
    ...(options.idleMinutes === undefined ? {} : { idleMinutes: options.idleMinutes }),
    ...(options.maxHours === undefined ? {} : { maxHours: options.maxHours }),
    ...clock,
  });
  const throttle = new LoginThrottle(store, { ...options.throttle, ...clock });
  return {
    sessions,
    login: new LoginService(store, sessions, throttle, options.passwordParams),
    cookie: { secure: options.cookieSecure ?? false },
    passwordParams: options.passwordParams,
  };
}
