// Discovery over HTTPS: Envoy's REST xDS (POST /v3/discovery:listeners and
// /v3/discovery:clusters, a JSON DiscoveryRequest in, a JSON DiscoveryResponse out).
//
// Only meshed proxies are answered: the TLS handshake requires a client certificate that
// chains to the mesh's trust bundle, so what the cluster's Services look like is told to
// no one else. The server's own certificate is a mesh identity of splice's namespace,
// which is what proxies check (bootstrap.ts, discoveryCluster).

import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type * as https from 'node:https';
import fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { DiscoverySnapshot, ResourceKind } from './snapshot.js';

export interface DiscoveryTls {
  /** The server's certificate chain and key (PEM). */
  cert: string;
  key: string;
  /** The roots a client certificate must chain to (PEM). */
  trustBundle: string;
}

export interface DiscoveryServer {
  app: FastifyInstance<https.Server>;
  /** `https://host:port` as bound (port 0 resolved). */
  url: string;
  /** Serve with `tls` for every new handshake from now on. */
  setTls(tls: DiscoveryTls): void;
  close(): Promise<void>;
}

// A DiscoveryRequest is a node description and a few names: tens of KB at most.
const BODY_LIMIT = 256 * 1024;

/** The URI names of a certificate's subjectAltName as node prints it ("URI:spiffe://…, DNS:…"). */
function uriSans(subjectAltName: string | undefined): string[] {
  return (subjectAltName ?? '').split(', ').filter((n) => n.startsWith('URI:')).map((n) => n.slice(4));
}

function tlsOptions(tls: DiscoveryTls): https.ServerOptions {
  return { minVersion: 'TLSv1.2', cert: tls.cert, key: tls.key, ca: tls.trustBundle, requestCert: true, rejectUnauthorized: true };
}

/**
 * Starts the discovery server on `host:port` (0: any free port). Throws what `listen`
 * throws (a port in use). Each answer comes from `snapshot` as it is at that request.
 */
export async function startDiscoveryServer(opts: { host: string; port: number; tls: DiscoveryTls; snapshot: DiscoverySnapshot; trustDomain: string; logger: Logger }): Promise<DiscoveryServer> {
  const app = fastify({
    https: tlsOptions(opts.tls),
    loggerInstance: opts.logger as FastifyBaseLogger,
    disableRequestLogging: true,
    bodyLimit: BODY_LIMIT,
    requestTimeout: 30_000,
    return503OnClosing: true,
  });
  const route = (kind: ResourceKind) => async (request: { body: unknown }, reply: { code(n: number): unknown; header(k: string, v: string): unknown; send(b?: string): unknown }) => {
    const answer = opts.snapshot.answer(kind, request.body);
    reply.code(answer.status);
    if (answer.body === undefined) return reply.send();
    reply.header('content-type', 'application/json');
    return reply.send(answer.body);
  };
  // The handshake proved the certificate chains to the mesh's roots; the roots may be an
  // operator's PKI that signs more than the mesh, so the identity must also be one of it.
  const prefix = `spiffe://${opts.trustDomain}/`;
  app.addHook('onRequest', async (request, reply) => {
    const socket = request.raw.socket as TLSSocket;
    const uris = uriSans(socket.getPeerCertificate?.()?.subjectaltname);
    if (!uris.some((u) => u.startsWith(prefix))) {
      reply.code(403).header('content-type', 'application/json');
      return reply.send(JSON.stringify({ message: `the client certificate names no SPIFFE ID of ${prefix} (got ${JSON.stringify(uris)})` }));
    }
    return undefined;
  });
  // "::" escapes the colon, which would otherwise start a path parameter.
  app.post('/v3/discovery::listeners', route('listeners'));
  app.post('/v3/discovery::clusters', route('clusters'));
  await app.listen({ host: opts.host, port: opts.port });
  const address = app.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    app,
    url: `https://${host}:${address.port}`,
    setTls: (tls) => app.server.setSecureContext(tlsOptions(tls)),
    close: () => app.close(),
  };
}
