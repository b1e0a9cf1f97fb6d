import type { ExpressionLimits } from './limits.js';

/** What the main thread asks an evaluator thread. */
export interface ThreadRequest {
  readonly id: number;
  readonly source: string;
  readonly context: unknown;
  readonly limits: ExpressionLimits;
}

/** What it answers: ready (once, at start), a result, a limit it hit, or an error. */
export type ThreadReply =
  | { readonly ready: true }
  | { readonly id: number; readonly value: unknown }
  | { readonly id: number; readonly limit: 'time' | 'depth' | 'result' }
  | {
      readonly id: number;
      readonly error: { message: string; code?: string; position?: number; token?: string };
    };
