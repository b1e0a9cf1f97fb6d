export { runCli, buildProgram, EXIT } from './run.js';
export { processIo, type CliIo } from './io.js';
