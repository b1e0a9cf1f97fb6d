export { SWARM_VERSION } from '../version/index.js';
