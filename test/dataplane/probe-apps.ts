// The app of pod S (policy.test.ts): what the kubelet's probes of each kind ask about.
//
//   8080  HTTP: /healthz answers 200 with the path, query and Host it was asked with;
//         /fail answers 503; anything else 200 "pod-s …"
//   9000  gRPC health (grpc.health.v1.Health/Check over HTTP/2): SERVING for the server
//         and any service but "down", which is NOT_SERVING
//   7070  TCP: accepts and closes; its own process, so a test can close the port
//
// node's http2 serves gRPC well enough for a health check: a 5-byte frame header
// (compression flag, big-endian length) around a protobuf HealthCheckResponse, whose one
// field is `status` (field 1, varint): SERVING 1, NOT_SERVING 2.

import type { ChildProcess } from 'node:child_process';
import type { Container } from '../../src/inject/types.js';
import type { Netns } from './envoy.js';
import { startInNetns } from './netns.js';

export const S_PORTS = Object.freeze({ http: 8080, grpc: 9000, tcp: 7070 });

/** The pod's containers as a user writes them: every probe kind, passing and failing ones. */
export const S_CONTAINERS: Container[] = [
  {
    name: 'app',
    image: 'registry.example/app:1',
    ports: [{ name: 'http', containerPort: S_PORTS.http }, { containerPort: S_PORTS.grpc }, { containerPort: S_PORTS.tcp }],
    readinessProbe: { httpGet: { path: '/healthz?full=1', port: 'http' }, periodSeconds: 1 },
    livenessProbe: { tcpSocket: { port: S_PORTS.tcp } },
    startupProbe: { grpc: { port: S_PORTS.grpc } },
  },
  {
    name: 'side',
    image: 'registry.example/side:1',
    readinessProbe: { httpGet: { path: '/fail', port: S_PORTS.http } },
    livenessProbe: { grpc: { port: S_PORTS.grpc, service: 'down' } },
  },
];

const HTTP_AND_GRPC = `
const http = require('node:http');
const http2 = require('node:http2');
let up = 0;
const ready = () => ++up === 2 && console.log('ready');
http.createServer((req, res) => {
  if (req.url.startsWith('/healthz')) return res.end('healthy ' + req.url + ' host=' + req.headers.host);
  if (req.url === '/fail') { res.statusCode = 503; return res.end('failing'); }
  res.end('pod-s ' + req.socket.localAddress + ':' + req.socket.localPort + ' ' + req.method + ' ' + req.url + ' from ' + req.socket.remoteAddress);
}).listen(${S_PORTS.http}, '0.0.0.0', ready);
http2.createServer().on('stream', (stream, headers) => {
  const chunks = [];
  stream.on('data', (c) => chunks.push(c));
  stream.on('end', () => {
    const body = Buffer.concat(chunks).subarray(5);
    // HealthCheckRequest: field 1 (service), length-delimited.
    const service = body[0] === 0x0a ? body.subarray(2, 2 + body[1]).toString() : '';
    const ok = headers[':path'] === '/grpc.health.v1.Health/Check';
    const status = service === 'down' ? 2 : 1;
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers(ok ? { 'grpc-status': '0' } : { 'grpc-status': '12', 'grpc-message': 'unimplemented' }));
    stream.end(ok ? Buffer.from([0, 0, 0, 0, 2, 0x08, status]) : Buffer.alloc(0));
  });
  stream.on('error', () => {});
}).listen(${S_PORTS.grpc}, '0.0.0.0', ready);
`;

const TCP = `
require('node:net').createServer((s) => s.end()).listen(${S_PORTS.tcp}, '0.0.0.0', () => console.log('ready'));
`;

/** Starts S's app as `uid`, each part once it listens. */
export async function startProbeApps(ns: Netns, uid: number): Promise<{ httpAndGrpc: ChildProcess; tcp: ChildProcess }> {
  const run = (script: string) => startInNetns(ns.name, 'setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', process.execPath, '-e', script]);
  return { httpAndGrpc: await run(HTTP_AND_GRPC), tcp: await run(TCP) };
}
