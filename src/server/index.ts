export { buildApp, type AppOptions } from './app.js';
export { startServer, type RunningServer } from './start.js';
export { PROBLEM_CONTENT_TYPE, type Problem } from './problem.js';
export { SWARM_VERSION } from './version.js';
export { consoleLogger, PrettyLines, resolveLogFormat, type LogFormat } from './console-log.js';
