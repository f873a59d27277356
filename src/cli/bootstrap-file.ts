// splice-init's second job: the proxy's Envoy bootstrap, rendered from the input in its
// args and written where splice-proxy reads it (src/inject/init.ts). Written to a
// temporary name and renamed, so Envoy never reads half a file, even if the init
// container is killed halfway and run again.
import { chmod, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { renderBootstrap } from '../inject/bootstrap.js';
import { parseBootstrapInput } from '../inject/bootstrap-input.js';

/** A bootstrap file that could not be written; the message names the path and the cause. */
export class BootstrapWriteError extends Error {
  override name = 'BootstrapWriteError';
}

/**
 * Renders the bootstrap from `inputText` (formatBootstrapInput's text, `$(POD_IP)` already
 * expanded by the kubelet) and writes it to `file` as JSON, mode 0644 (splice-proxy runs
 * as another uid).
 *
 * @throws BootstrapInputError naming the field and value, before anything is written
 * @throws BootstrapWriteError when the file cannot be written (no partial file is left)
 */
export async function writeBootstrapFile(file: string, inputText: string): Promise<{ bytes: number }> {
  const text = JSON.stringify(renderBootstrap(parseBootstrapInput(inputText)));
  const temporary = join(dirname(file), `.${process.pid}.bootstrap.tmp`);
  try {
    await writeFile(temporary, text);
    // Set after writing: the mode writeFile takes is narrowed by the umask.
    await chmod(temporary, 0o644);
    await rename(temporary, file);
  } catch (err) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw new BootstrapWriteError(`cannot write the bootstrap to ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return { bytes: Buffer.byteLength(text) };
}
