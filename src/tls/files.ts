// `--tls-cert F --tls-key F`: a serving pair managed by someone else (cert-manager, a
// mounted Secret). Loaded and checked at start, then re-read on a timer.
//
// Why poll instead of fs.watch: a Secret volume is updated by writing a new hidden
// directory and swapping the `..data` symlink, so the files splice opened are never
// modified in place and inode-based watchers miss the change after the first swap
// (fsnotify/fsnotify#199; the webhook of kubernetes/ingress-nginx#6386 and cilium's
// certloader, cilium/cilium#13621, both stopped reloading because of it). Re-reading
// two small files every few seconds is cheap and sees every kind of update.

import { readFile } from 'node:fs/promises';
import { checkPair, errorText, type CertPair } from './generate.js';

export class TlsFileError extends Error {
  override name = 'TlsFileError';
}

async function readPem(file: string, flag: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : errorText(err);
    throw new TlsFileError(`${flag} ${file}: cannot read it (${why})`);
  }
}

/** Reads and checks a pair; the error names the file (and flag) at fault. */
export async function loadPairFiles(certFile: string, keyFile: string): Promise<CertPair> {
  // One after the other, so with both files missing the error always names the certificate.
  const cert = await readPem(certFile, '--tls-cert');
  const key = await readPem(keyFile, '--tls-key');
  const problem = checkPair({ cert, key });
  if (problem === undefined) return { cert, key };
  if (problem.startsWith('the certificate')) throw new TlsFileError(`--tls-cert ${certFile}: ${problem}`);
  if (problem.startsWith('the private key is not')) throw new TlsFileError(`--tls-key ${keyFile}: ${problem}`);
  throw new TlsFileError(`--tls-cert ${certFile} and --tls-key ${keyFile}: ${problem}`);
}

export interface WatchOptions {
  certFile: string;
  keyFile: string;
  /** The pair in use now (as loaded at start): only a different pair is reported. */
  current: CertPair;
  /** Called with each new valid pair. */
  onReload: (pair: CertPair) => void;
  /** Called when the files changed but the new pair is unusable; the old one stays in use. */
  onError: (err: Error) => void;
  /** How often to re-read the files (default 5 s). */
  intervalMs?: number;
}

/** Re-reads the pair every `intervalMs`; returns a function that stops watching. */
export function watchPairFiles(opts: WatchOptions): () => void {
  const interval = opts.intervalMs ?? 5000;
  let current = opts.current;
  // The last bad contents seen, so a broken pair is reported once, not on every poll.
  let lastBad: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const tick = async (): Promise<void> => {
    try {
      const [cert, key] = await Promise.all([readFile(opts.certFile, 'utf8'), readFile(opts.keyFile, 'utf8')]);
      if (cert === current.cert && key === current.key) {
        lastBad = undefined;
        return;
      }
      if (cert + key === lastBad) return;
      // A writer that replaces the two files one after the other can be caught in
      // between (new certificate, old key): that reads as a mismatch, is reported,
      // and the next poll picks up the complete pair.
      try {
        current = await loadPairFiles(opts.certFile, opts.keyFile);
        lastBad = undefined;
        opts.onReload(current);
      } catch (err) {
        lastBad = cert + key;
        opts.onError(err instanceof Error ? err : new Error(String(err)));
      }
    } catch (err) {
      const text = `unreadable:${errorText(err)}`;
      if (text !== lastBad) {
        lastBad = text;
        opts.onError(new TlsFileError(`cannot re-read ${opts.certFile} / ${opts.keyFile} (${errorText(err)}); keeping the certificate in use`));
      }
    }
  };

  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => void tick().finally(schedule), interval);
    // The servers keep the process alive; a pending poll must not delay exit.
    timer.unref();
  };
  schedule();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
