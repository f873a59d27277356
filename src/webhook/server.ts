// The listening side: the webhook on HTTPS (never plain HTTP: the API server only
// calls webhooks over TLS) and the operations app on plain HTTP.
//
// Certificates are swapped with setSecureContext on the TLS server fastify created
// (`app.server`): new handshakes use the new pair at once, connections already open
// keep theirs, and nothing is read or built per request.

import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type * as http2 from 'node:http2';
import type { FastifyInstance } from 'fastify';
import type { CertPair } from '../tls/generate.js';
import { buildHttpsApp, type AppOptions } from './app.js';

export const DEFAULT_PORT = 9443;
export const DEFAULT_METRICS_PORT = 9090;

// TLS 1.0/1.1 are deprecated (RFC 8996) and no supported API server needs them.
const TLS_OPTIONS = { minVersion: 'TLSv1.2' } as const;

export interface WebhookServer {
  app: FastifyInstance<http2.Http2SecureServer>;
  /** `https://host:port` as actually bound (port 0 resolved). */
  url: string;
  /** Serve `pair` for every new TLS handshake from now on. */
  setCertificate(pair: CertPair): void;
  /** Stops accepting, lets in-flight requests finish, then resolves. */
  close(): Promise<void>;
}

export async function startWebhookServer(opts: { app: AppOptions; tls: CertPair; host: string; port: number }): Promise<WebhookServer> {
  const app = buildHttpsApp(opts.app, { ...TLS_OPTIONS, cert: opts.tls.cert, key: opts.tls.key });
  // What each new connection cost: a full handshake or a resumed session. A burst of pod
  // creations opens connections faster than a client's idle pool keeps them.
  app.server.on('secureConnection', (socket: TLSSocket) => {
    opts.app.metrics.recordHandshake(socket.isSessionReused(), typeof socket.alpnProtocol === 'string' ? socket.alpnProtocol : 'none');
  });
  await app.listen({ host: opts.host, port: opts.port });
  return {
    app,
    url: urlOf('https', app.server.address()),
    setCertificate(pair) {
      app.server.setSecureContext({ ...TLS_OPTIONS, cert: pair.cert, key: pair.key });
    },
    close: () => app.close(),
  };
}

/** Listens with an already-built (plain HTTP) app, returns its URL. */
export async function listenHttp(app: FastifyInstance, host: string, port: number): Promise<string> {
  await app.listen({ host, port });
  return urlOf('http', app.server.address());
}

function urlOf(scheme: string, address: string | AddressInfo | null): string {
  if (address === null || typeof address === 'string') return `${scheme}://${String(address)}`;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${scheme}://${host}:${address.port}`;
}
