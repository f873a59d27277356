// A mutual TLS handshake between two workload identities over loopback, each side
// trusting only its own ca.crt: what a peer (Envoy) checks, done with node's tls.
import { once } from 'node:events';
import { request } from 'node:https';
import { connect, createServer, type TLSSocket } from 'node:tls';

export interface Pems {
  cert: string;
  key: string;
  ca: string;
}

/** The SAN each side saw of the other; rejects when either refuses the other's certificate. */
export async function mutualTls(server: Pems, client: Pems): Promise<{ serverSaw: string | undefined; clientSaw: string | undefined }> {
  const srv = createServer({ ...server, requestCert: true, rejectUnauthorized: true });
  const accepted = once(srv, 'secureConnection') as Promise<[TLSSocket]>;
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  // No host name to check: a SPIFFE identity is checked by its URI, as Envoy does.
  const sock = connect({ host: '127.0.0.1', port, ...client, checkServerIdentity: () => undefined });
  try {
    await once(sock, 'secureConnect');
    const [peer] = await accepted;
    return { serverSaw: peer.getPeerX509Certificate()?.subjectAltName, clientSaw: sock.getPeerX509Certificate()?.subjectAltName };
  } finally {
    sock.destroy();
    srv.close();
  }
}

/**
 * POSTs `body` as JSON to `url` with an optional client certificate, trusting only `ca`,
 * without a host name check (a mesh server proves a SPIFFE URI, not a name). Resolves
 * with the status and the body as text; rejects when the handshake fails.
 */
export function postJsonAs(url: string, body: unknown, client: { cert?: string; key?: string; ca: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, ...client, checkServerIdentity: () => undefined }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}
