// Straight HTTPS to the test API server with the admin client certificate: for tests
// that send hundreds of requests (a kubectl process each would take minutes) or that
// need what kubectl does not print whole, such as every Warning header of an answer.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { parse } from 'yaml';

export interface ApiAnswer {
  status: number;
  body: Record<string, unknown>;
  /** The text of each Warning header (RFC 9111 section 5.5), in order. */
  warnings: string[];
}

interface Kubeconfig {
  clusters: Array<{ cluster: { server: string; 'certificate-authority': string } }>;
  users: Array<{ user: { 'client-certificate': string; 'client-key': string } }>;
}

let agent: Agent | undefined;
let server: URL | undefined;

function connection(): { agent: Agent; server: URL } {
  if (agent && server) return { agent, server };
  const file = process.env.KUBECONFIG;
  if (!file) throw new Error('KUBECONFIG is not set: run the end-to-end tests with npm run test:e2e');
  const config = parse(readFileSync(file, 'utf8')) as Kubeconfig;
  const cluster = config.clusters[0]?.cluster;
  const user = config.users[0]?.user;
  if (!cluster || !user) throw new Error(`${file} has no cluster or user`);
  server = new URL(cluster.server);
  agent = new Agent({
    keepAlive: true,
    maxSockets: 4,
    ca: readFileSync(cluster['certificate-authority']),
    cert: readFileSync(user['client-certificate']),
    key: readFileSync(user['client-key']),
  });
  return { agent, server };
}

/** `299 - "text"` → text (the API server's warn-agent is "-", the text a quoted-string). */
function warningText(header: string): string {
  const m = /^\d{3} \S+ "((?:[^"\\]|\\.)*)"/.exec(header);
  return m ? (m[1] ?? '').replace(/\\(.)/g, '$1') : header;
}

export function api(method: string, path: string, body?: unknown): Promise<ApiAnswer> {
  const { agent: a, server: s } = connection();
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: s.hostname,
        port: s.port,
        method,
        path,
        agent: a,
        timeout: 30_000,
        headers: { accept: 'application/json', ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const warnings: string[] = [];
          for (let i = 0; i < res.rawHeaders.length; i += 2) {
            if (res.rawHeaders[i]?.toLowerCase() === 'warning') warnings.push(warningText(res.rawHeaders[i + 1] ?? ''));
          }
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: Record<string, unknown>;
          try {
            parsed = JSON.parse(text) as Record<string, unknown>;
          } catch {
            parsed = { message: text };
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, warnings });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Closes the kept-alive connections, so the test process can exit. */
export function closeApi(): void {
  agent?.destroy();
  agent = undefined;
}
