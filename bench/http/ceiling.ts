// The ceiling: what Node can do at best for an admission webhook on this machine. A bare
// fastify 5 HTTPS server (the same framework, TLS settings and key type as splice)
// whose POST /inject parses the AdmissionReview and answers it with one constant,
// realistic patch (the typical pod's, computed once at start). Everything splice adds
// on top (checking the review, deciding, rendering, diffing, logging, metrics) is what
// the throughput ratio measures.
//
//   node dist/bench/http/ceiling.js --port P [--host H] [--san NAME]… [--http2] [--pod-file F --kube-minor N]
//
// Prints its certificate (PEM) on stderr and `{"listening":"https://…"}` on stdout.
// --pod-file answers with splice's patch for that pod (as a cluster of version 1.N would
// get it) instead of the typical pod's: the burst's ceiling arm, whose patch the API server
// applies to every pod of the burst. GET /count says how many reviews it answered and how
// many TLS handshakes it completed.

import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import fastify, { type FastifyInstance } from 'fastify';
import { generate } from 'selfsigned';
import { DEFAULT_CONFIG } from '../../src/inject/config.js';
import { injectPod } from '../../src/inject/engine.js';
import type { JsonObject } from '../../src/inject/types.js';
import { typicalPod } from '../pods.js';

const { values } = parseArgs({ options: { port: { type: 'string' }, host: { type: 'string' }, 'pod-file': { type: 'string' }, 'kube-minor': { type: 'string' }, http2: { type: 'boolean' }, san: { type: 'string', multiple: true } }, strict: true });
const port = Number(values.port ?? '0');
const host = values.host ?? '127.0.0.1';
const podFile = values['pod-file'];

const decision = injectPod({
  pod: podFile ? (JSON.parse(readFileSync(podFile, 'utf8')) as JsonObject) : typicalPod(),
  namespace: { name: 'shop', labels: { 'splice.dev/inject': 'enabled' }, annotations: {} },
  cluster: values['kube-minor'] ? { version: { major: 1, minor: Number(values['kube-minor']) } } : {},
  config: DEFAULT_CONFIG,
});
if (decision.result !== 'inject') throw new Error(`the typical pod was not injected: ${decision.result}`);
const patch = Buffer.from(JSON.stringify(decision.patch)).toString('base64');

// --san NAME (an IP address or a DNS name, repeatable): more names the certificate holds,
// e.g. the Service name the API server verifies when it calls the ceiling through one.
const extraNames = (values.san ?? []).map((n) => (isIP(n) ? { type: 7 as const, ip: n } : { type: 2 as const, value: n }));
const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
  keyType: 'ec',
  curve: 'P-256',
  algorithm: 'sha256',
  extensions: [{ name: 'subjectAltName', altNames: [{ type: 7 as const, ip: '127.0.0.1' }, { type: 2 as const, value: 'localhost' }, ...extraNames] }],
});

// --http2 offers h2 (with http/1.1) over ALPN, as an API server talking to a loopback webhook would use it.
const tls = { minVersion: 'TLSv1.2' as const, cert: pems.cert, key: pems.private };
// The routes use only what the HTTP/1.1 and HTTP/2 compatibility APIs share.
const app = (
  values.http2 ? fastify({ http2: true, https: { ...tls, allowHTTP1: true }, bodyLimit: 8 * 1024 * 1024 }) : fastify({ https: tls, bodyLimit: 8 * 1024 * 1024 })
) as unknown as FastifyInstance;
let handshakes = 0;
app.server.on('secureConnection', () => void handshakes++);

interface Review {
  apiVersion?: string;
  request?: { uid?: string };
}

// The answer must still echo the request's apiVersion and uid (the API server rejects
// anything else), so the body is parsed like a real webhook has to. The rest of the
// answer is one pre-written text: the patch never goes through JSON.stringify, which
// would scan its ~17 KB of base64 on every request (splice avoids that scan too).
const tail = `,"allowed":true,"patchType":"JSONPatch","patch":"${patch}"}}`;
let answered = 0;
app.get('/count', async () => ({ answered, handshakes }));
app.post<{ Body: Review }>('/inject', async (request, reply) =>
  (answered++, reply)
    .type('application/json')
    .send(
      `{"apiVersion":${JSON.stringify(request.body.apiVersion ?? 'admission.k8s.io/v1')},"kind":"AdmissionReview","response":{"uid":${JSON.stringify(request.body.request?.uid ?? '')}${tail}`,
    ),
);

await app.listen({ host, port });
const address = app.server.address();
process.stderr.write(pems.cert);
process.stdout.write(`${JSON.stringify({ listening: `https://${host}:${typeof address === 'object' && address !== null ? address.port : port}` })}\n`);

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void app.close().then(() => process.exit(0));
  });
}
