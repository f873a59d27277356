// The test API server over HTTPS with the admin client certificate: one client for the
// end-to-end tests and the benchmark's cluster sections.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { dirname, join } from 'node:path';

/** `299 - "text"` → text (the API server's warn-agent is "-", the text a quoted-string). */
function warningsOf(rawHeaders: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]?.toLowerCase() !== 'warning') continue;
    const header = rawHeaders[i + 1] ?? '';
    const m = /^\d{3} \S+ "((?:[^"\\]|\\.)*)"/.exec(header);
    out.push(m ? (m[1] ?? '').replace(/\\(.)/g, '$1') : header);
  }
  return out;
}

export interface ApiReply {
  status: number;
  body: string;
  /** The text of each Warning header (RFC 9111 section 5.5), in order. */
  warnings: string[];
}

/**
 * The API server over kept-alive connections with the admin certificate cluster.sh made
 * in `pki` (ca.crt, admin.crt, admin.key), for tests and benchmarks that send hundreds of
 * requests, or need what kubectl does not print whole, such as every Warning header.
 * client-node builds a new agent, so a new TLS connection, for every request: about 100
 * namespace creates a second on this machine, most of the CPU going to handshakes.
 */
export class Api {
  readonly #tls: { ca: Buffer; cert: Buffer; key: Buffer };
  readonly #agent: Agent;
  readonly #port: number;

  constructor(server: string, pki: string) {
    this.#port = Number(new URL(server).port);
    this.#tls = { ca: readFileSync(join(pki, 'ca.crt')), cert: readFileSync(join(pki, 'admin.crt')), key: readFileSync(join(pki, 'admin.key')) };
    this.#agent = new Agent({ keepAlive: true, maxSockets: 32, ...this.#tls });
  }

  request(method: string, path: string, body?: unknown, timeoutMs = 30_000): Promise<ApiReply> {
    const data = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          agent: this.#agent,
          host: '127.0.0.1',
          port: this.#port,
          path,
          method,
          timeout: timeoutMs,
          headers: { accept: 'application/json', ...(data === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) }) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), warnings: warningsOf(res.rawHeaders) }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
      req.end(data);
    });
  }

  /** A request that must answer 2xx; returns the parsed body. */
  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const r = await this.request(method, path, body);
    if (r.status < 200 || r.status > 299) throw new Error(`${method} ${path}: ${r.status} ${r.body.slice(0, 500)}`);
    return JSON.parse(r.body) as T;
  }

  /**
   * A watch: `onEvent` gets each event's type and object as they arrive. Resolves once the
   * API server has answered the request, with a function that ends the watch.
   */
  watch(path: string, onEvent: (type: string, object: Record<string, unknown>) => void, onEnd: (err?: Error) => void): Promise<() => void> {
    return new Promise((resolve, reject) => {
      // A connection of its own, so the watch never holds one the other requests need.
      const opts = { agent: false as const, ...this.#tls, host: '127.0.0.1', port: this.#port, path, method: 'GET', headers: { accept: 'application/json' } };
      const req = request(opts, (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`watch ${path}: ${res.statusCode}`));
          res.resume();
          return;
        }
        let buffered = '';
        let ended = false;
        const end = (err?: Error) => {
          if (ended) return;
          ended = true;
          onEnd(err);
        };
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffered += chunk;
          let nl: number;
          while ((nl = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, nl);
            buffered = buffered.slice(nl + 1);
            if (line.trim() === '') continue;
            const event = JSON.parse(line) as { type?: string; object?: Record<string, unknown> };
            if (event.type && event.object) onEvent(event.type, event.object);
          }
        });
        res.on('end', () => end());
        res.on('error', (e) => end(e));
        resolve(() => {
          ended = true;
          req.destroy();
        });
      });
      req.on('error', reject);
      req.end();
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}

/** The end-to-end cluster's API server, from what test/e2e/cluster.sh exports. */
export function e2eApi(): Api {
  const server = process.env.SPLICE_E2E_SERVER;
  const ca = process.env.SPLICE_E2E_CA_CERT;
  if (!server || !ca) throw new Error('SPLICE_E2E_SERVER / SPLICE_E2E_CA_CERT not set: run through test/e2e/run.sh');
  return new Api(server, dirname(ca));
}
