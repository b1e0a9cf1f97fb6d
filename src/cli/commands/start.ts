import type { Command } from 'commander';
import { loadConfig } from '../../config/index.js';
import { InputError } from '../../errors/index.js';
import { SWARM_VERSION } from '../../version/index.js';
import type { CliIo } from '../io.js';

export function registerStart(program: Command, io: CliIo): void {
  program
    .command('start')
    .description('Run Swarm: the HTTP API on this machine (migrates the database on start)')
    .option('-p, --port <port>', 'port to listen on (default: SWARM_PORT, else 7373)')
    .option('--host <host>', 'address to bind (default: SWARM_HOST, else 127.0.0.1)')
    .action(async (options: { port?: string; host?: string }) => {
      const env = { ...io.env };
      if (options.port !== undefined) {
        if (!/^\d+$/.test(options.port))
          throw new InputError('--port', `must be an integer from 0 to 65535, got "${options.port}"`);
        env.SWARM_PORT = options.port;
      }
      if (options.host !== undefined) env.SWARM_HOST = options.host;
      const config = loadConfig(env, io.cwd);
      // Listen for signals before anything starts, so an early SIGTERM still shuts down cleanly.
      const shutdown = io.waitForShutdown();
      // The server's modules load here, so the other commands start without them.
      const [{ startServer }, { startTracing }] = await Promise.all([
        import('../../server/index.js'),
        import('../../telemetry/index.js'),
      ]);
      // Before the server is built: its HTTP hooks are installed only with tracing on. Loads the
      // OpenTelemetry SDK only when OTEL_EXPORTER_OTLP_ENDPOINT (or …_TRACES_ENDPOINT) is set.
      const stopTracing = await startTracing(io.env);
      const server = await startServer(config);
      io.out(
        `Swarm ${SWARM_VERSION} listening on ${server.url} (database: ${server.store.handle.description})`,
      );
      if (server.bootstrapped !== null) {
        const { user, key, credentialsFile, credentialName, password } = server.bootstrapped;
        io.out(`First start: created admin user ${user.email} and an API key. It is shown once:`);
        io.out(`  ${key}`);
        io.out(
          `Saved as credential "${credentialName}" in ${credentialsFile} (mode 0600), beside any other database's; the CLI (\`./swarm\` in the clone) finds it there with this server's URL.`,
        );
        if (password !== null) {
          io.out(
            `The admin's password, to sign in as ${user.email} (POST /api/v1/auth/login), also shown once:`,
          );
          io.out(`  ${password}`);
        } else {
          io.out(`The admin signs in as ${user.email} with the password in SWARM_ADMIN_PASSWORD.`);
        }
      }
      if (server.examples !== null) {
        io.out(
          `Registered ${server.examples.agents.length} example agents and ${server.examples.workflows.length} example workflows: try \`./swarm workflow list\` in another shell.`,
        );
      }
      const signal = await shutdown;
      io.out(`${signal}: shutting down`);
      await server.close();
      // After the worker stopped: the spans of its last attempts and run ends are sent too.
      await stopTracing();
    });
}
