import { trace, type Tracer } from '@opentelemetry/api';
import { SWARM_VERSION } from '../version/index.js';

/** Swarm's tracer: the SDK's once startTracing ran, the API's no-op one otherwise. */
export function tracer(): Tracer {
  return trace.getTracer('swarm', SWARM_VERSION);
}
