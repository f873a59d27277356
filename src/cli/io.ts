// The CLI's view of the process, passed in so commands run the same in tests and in
// a terminal: no command touches process.stdout or process.exit directly.
import type { Readable } from 'node:stream';
import { parseArgs, type ParseArgsConfig } from 'node:util';

type FlagOptions = NonNullable<ParseArgsConfig['options']>;
import type { DestinationStream } from 'pino';

export interface CliIO {
  stdin: Readable;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /**
   * Where `splice serve` writes its log lines, if not through `stdout`: the process's
   * own stdout, written asynchronously.
   */
  logDestination?: () => Promise<DestinationStream>;
}

export function processIO(): CliIO {
  return {
    stdin: process.stdin,
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    // process.stdout writes a pipe or a file synchronously on Linux (a container's stdout
    // is one of them): one write(2) per decision line, on the event loop, ~9% of the
    // webhook's CPU under load. pino's asynchronous destination writes lines as they come
    // while no write is pending and gathers them while one is, and pino writes what is
    // left synchronously when the process exits.
    // Loaded only by `splice serve`: splice-init's `splice iptables` never logs through pino.
    logDestination: async () => (await import('pino')).default.destination({ dest: 1, sync: false }),
  };
}

/** A usage or input problem: printed to stderr as is, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Reads the whole of a stream as UTF-8 text. */
export async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * A command's flags, as node's parseArgs reads them with no positionals and no unknown
 * flag; a flag it cannot read is a UsageError (exit 2) with parseArgs' own message.
 */
export function parseFlags<T extends FlagOptions>(argv: string[], options: T): ReturnType<typeof parseArgs<{ args: string[]; options: T; strict: true; allowPositionals: false }>>['values'] {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}
