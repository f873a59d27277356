// Where things are, from the compiled file's point of view (dist/bench/lib/paths.js).
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** A compiled benchmark script, e.g. `dist('http/ceiling.js')`. */
export function compiled(relative: string): string {
  return fileURLToPath(new URL(`../${relative}`, import.meta.url));
}

export const SPLICE_BIN = `${ROOT}bin/splice.js`;
export const AUTOCANNON_BIN = `${ROOT}node_modules/autocannon/autocannon.js`;
export const RESULTS_DIR = `${ROOT}bench/results`;
