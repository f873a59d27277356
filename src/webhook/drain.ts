// A body over the limit is refused with 413, but the client is still sending it. If
// the server answers and closes at once, the kernel resets the connection (unread data
// in the receive buffer turns the close into an RST), and a client that writes its
// whole body before reading, as Go's net/http often does for the API server, sees
// "write: broken pipe" instead of the 413. So the rest of the body is read and dropped
// first, within bounds, and only then answered: the "lingering close" of RFC 9112
// section 9.6, done before the answer so the connection can even stay open.

import type { IncomingMessage } from 'node:http';

/** How much of a refused body is read and dropped before giving up on it: 4 × a 64 MiB review. */
export const DISCARD_LIMIT_BYTES = 256 * 1024 * 1024;
/** How long a refused body is read for: the API server's longest webhook timeout. */
export const DISCARD_LIMIT_MS = 30_000;

/**
 * Reads and drops what is left of `request`'s body, never holding more than one chunk.
 * Resolves `true` once the body has ended (the connection can carry the answer and stay
 * open), `false` when the client sent more than `maxBytes`, took longer than `maxMs`
 * (milliseconds), or went away: the caller then closes the connection. Never rejects.
 */
export function discardBody(request: IncomingMessage, maxBytes = DISCARD_LIMIT_BYTES, maxMs = DISCARD_LIMIT_MS): Promise<boolean> {
  if (request.complete || request.readableEnded) return Promise.resolve(true);
  return new Promise((resolve) => {
    let bytes = 0;
    const finish = (ended: boolean) => {
      clearTimeout(timer);
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onGone);
      request.off('close', onGone);
      if (!ended) request.pause();
      resolve(ended);
    };
    const onData = (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > maxBytes) finish(false);
    };
    const onEnd = () => finish(true);
    const onGone = () => finish(request.complete);
    const timer = setTimeout(() => finish(false), maxMs);
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onGone);
    request.on('close', onGone);
    request.resume();
  });
}
