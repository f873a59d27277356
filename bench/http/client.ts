// One review at a time over HTTPS with keep-alive, trusting the server's CA: the
// pod-size section's round trips, and the check that a server answers every body of
// the mix with what the benchmark expects before it is put under load.

import * as https from 'node:https';
import { performance } from 'node:perf_hooks';

export function keepAliveAgent(ca: string, maxSockets = 1): https.Agent {
  return new https.Agent({ keepAlive: true, maxSockets, ca });
}

export interface Reply {
  status: number;
  text: string;
  /** From just before the request is written to the last byte of the answer. */
  ms: number;
}

// Bodies go out as Buffers where the caller has one: the API server sends bytes it
// already holds, and encoding a 600 KB string on every request would be the client's
// cost counted as splice's.
export function postReview(agent: https.Agent, origin: string, body: string | Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const url = new URL('/inject', origin);
    const started = performance.now();
    const req = https.request(
      {
        agent,
        method: 'POST',
        hostname: url.hostname,
        port: url.port,
        path: url.pathname,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - started }));
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error('no answer within 30 s')));
    req.on('error', reject);
    req.end(body);
  });
}

/** Fails unless the answer to `body` is a 200 AdmissionReview that allows the pod with a patch. */
export async function expectPatched(agent: https.Agent, origin: string, body: string | Buffer, what: string): Promise<Reply> {
  const reply = await postReview(agent, origin, body);
  let parsed: { response?: { allowed?: unknown; patch?: unknown; uid?: unknown } } = {};
  try {
    parsed = JSON.parse(reply.text) as typeof parsed;
  } catch {
    // reported below
  }
  const uid = (JSON.parse(body.toString()) as { request: { uid: string } }).request.uid;
  if (reply.status !== 200 || parsed.response?.allowed !== true || typeof parsed.response.patch !== 'string' || parsed.response.uid !== uid) {
    throw new Error(`${origin} did not inject ${what}: HTTP ${reply.status} ${reply.text.slice(0, 500)}`);
  }
  return reply;
}
