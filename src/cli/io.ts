// The CLI's view of the process, passed in so commands run the same in tests and in
// a terminal: no command touches process.stdout or process.exit directly.
import type { Readable } from 'node:stream';

export interface CliIO {
  stdin: Readable;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export function processIO(): CliIO {
  return {
    stdin: process.stdin,
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
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
