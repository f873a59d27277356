// `splice <command>`: dispatches to the command modules. Every command gets the same
// CliIO and returns an exit code; errors are printed to stderr, never thrown out.

import { ConfigError } from '../inject/config.js';
import { ValueError } from '../iptables/options.js';
import { SPLICE_VERSION } from '../version.js';
import type { CliIO } from './io.js';
import { processIO, UsageError } from './io.js';

const USAGE = `usage: splice <command> [flags]

commands:
  serve      run the admission webhook (--local: no cluster, self-signed certificate)
  inject     add the proxy to manifests: splice inject -f FILE|-
  uninject   take out again what splice added: splice uninject -f FILE|-
  explain    say, per pod, whether and why splice injects it, and what would change
  check      list running pods whose proxy differs from what splice would inject today
  iptables   print (or with --apply, install) the traffic-redirect rules
  version    print the version

Run 'splice <command> --help' for a command's flags.
`;

type Command = (argv: string[], io: CliIO) => Promise<number>;

// Each command's module is loaded when that command runs: `splice iptables` in the init
// container then starts without the webhook server, and `serve` without the YAML and
// diff libraries of inject and explain.
const COMMANDS: Record<string, Command> = {
  serve: async (argv, io) => (await import('./serve.js')).serveCommand(argv, io),
  inject: async (argv, io) => (await import('./inject.js')).injectCommand(argv, io),
  uninject: async (argv, io) => (await import('./uninject.js')).uninjectCommand(argv, io),
  explain: async (argv, io) => (await import('./explain.js')).explainCommand(argv, io),
  check: async (argv, io) => (await import('./check.js')).checkCommand(argv, io),
  iptables: async (argv, io) => (await import('./iptables.js')).iptablesCommand(argv, io),
  version: async (_argv, io) => {
    io.stdout(`splice ${SPLICE_VERSION}\n`);
    return 0;
  },
};

export async function main(argv: string[], io: CliIO = processIO()): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? io.stderr : io.stdout)(USAGE);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.stderr(`splice: unknown command ${JSON.stringify(name)}\n\n${USAGE}`);
    return 2;
  }
  try {
    return await command(rest, io);
  } catch (e) {
    if (e instanceof UsageError || e instanceof ValueError) {
      io.stderr(`splice ${name}: ${e.message}\n`);
      return 2;
    }
    if (e instanceof ConfigError) {
      io.stderr(`splice ${name}: ${e.message}\n`);
      return 2;
    }
    io.stderr(`splice ${name}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  }
}
