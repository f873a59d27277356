// A mutual TLS handshake between two workload identities over loopback, each side
// trusting only its own ca.crt: what a peer (Envoy) checks, done with node's tls.
import { once } from 'node:events';
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
