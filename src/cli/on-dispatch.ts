import type { Command } from 'commander';

/**
 * A part whose index loads the database layer, mail or the runtimes, needed by a command's help
 * and checks: imported when one of `command`'s subcommands is dispatched (before it parses, so
 * before its `--help`), never at start, so every other command and `swarm --version` start
 * without it. `ready` runs once it is loaded (to fill in option descriptions); the returned
 * function gives the module from then on.
 */
export function loadOnDispatch<T>(
  command: Command,
  load: () => Promise<T>,
  ready: (loaded: T) => void = () => {},
): () => T {
  let loaded: T | undefined;
  command.hook('preSubcommand', async () => {
    loaded ??= await load();
    ready(loaded);
  });
  return () => {
    if (loaded === undefined) throw new Error(`${command.name()}: used before a subcommand was dispatched`);
    return loaded;
  };
}
