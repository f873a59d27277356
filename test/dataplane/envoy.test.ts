// The rendered bootstrap run by the real Envoy, in a network namespace of its own, with a
// Kubernetes-shaped identity volume and redirect rules like the pod's. Needs root.
//
// Inside the namespace: the "app" is an echo server on 198.18.0.1 (a veth address, so
// there is a non-loopback address to probe); clients run as uid 65534 and only their
// traffic is redirected (to 8443 -> inbound 15006, to 7070 -> outbound 15001), the mirror
// of the pod's rule that redirects everyone but the proxy. Mesh clients dial the mTLS port
// 15008 themselves, naming the app port in the TLS server name, as a peer's proxy does.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomInt, X509Certificate } from 'node:crypto';
import { generate } from 'selfsigned';
import { MESH_ALPN, renderBootstrap, renderSdsFiles, type BootstrapInput } from '../../src/inject/bootstrap.js';
import { PROXY_PORTS } from '../../src/iptables/options.js';
import {
  accessLogEntries, capture, envoyBinary, eventually, Netns, probe, run, startEnvoy, ENVOY_VERSION,
  type ProbeRequest, type RunningEnvoy,
} from './envoy.js';
import { writeIdentity } from './identity-volume.js';

const APP_IP = '198.18.0.1';
const INBOUND_APP_PORT = 8443;
const OUTBOUND_APP_PORT = 7070;
const CLIENT_UID = 65534;
const TRUST_DOMAIN = 'cluster.local';
const spiffe = (sa: string, td = TRUST_DOMAIN) => `spiffe://${td}/ns/demo/sa/${sa}`;

interface Pem { cert: string; key: string }

async function makeCa(name: string): Promise<Pem> {
  const p = await generate([{ name: 'commonName', value: name }], {
    keyType: 'ec', curve: 'P-256', algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  return { cert: p.cert, key: p.private };
}

async function makeLeaf(ca: Pem, uri: string): Promise<Pem> {
  const p = await generate([{ name: 'commonName', value: uri.split('/').pop() ?? 'leaf' }], {
    keyType: 'ec', curve: 'P-256', algorithm: 'sha256',
    ca: { key: ca.key, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 6, value: uri }] },
    ],
  });
  return { cert: p.cert, key: p.private };
}

interface Lab {
  input: BootstrapInput;
  ca: Pem;
  web: Pem;
  ns: Netns;
  envoy: RunningEnvoy;
  cleanup: Array<() => Promise<void>>;
}

const identityFiles = (input: BootstrapInput, ca: Pem, leaf: Pem): Record<string, string> => {
  const sds = Object.entries(renderSdsFiles(input)).map(([name, body]) => [name, JSON.stringify(body)]);
  return { 'tls.crt': leaf.cert, 'tls.key': leaf.key, 'ca.crt': ca.cert, ...Object.fromEntries(sds) };
};

describe(`Envoy ${ENVOY_VERSION} running the rendered bootstrap`, () => {
  let lab: Lab | undefined;
  const the = (): Lab => {
    assert.ok(lab, 'set-up failed');
    return lab;
  };
  const tls = (extra: Partial<Extract<ProbeRequest, { kind: 'tls' }>> = {}): ProbeRequest =>
    ({ kind: 'tls', host: APP_IP, port: PROXY_PORTS.mtls, servername: String(INBOUND_APP_PORT), send: 'ping', ca: the().ca.cert, alpn: [MESH_ALPN], ...extra });
  const live = async (): Promise<void> => {
    const r = await probe(the().ns, { kind: 'http', host: '127.0.0.1', port: PROXY_PORTS.readiness, path: '/ready' });
    assert.equal(r.status, 200, `Envoy is no longer ready: ${JSON.stringify(r)}`);
  };
  const accessLog = async (match: (entry: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> => {
    const entries = () => accessLogEntries(the().envoy.stdout());
    return eventually('an access log entry', async () => entries().find(match)).catch((e: unknown) => {
      throw new Error(`${String(e)}; the last entries:\n${entries().slice(-3).map((x) => JSON.stringify(x)).join('\n')}`);
    });
  };

  before(async () => {
    assert.equal(process.getuid?.(), 0, 'the dataplane tests need root (network namespaces, iptables)');
    const bin = envoyBinary();
    const cleanup: Array<() => Promise<void>> = [];
    try {
      const dir = await mkdtemp(join(tmpdir(), 'splice-envoy-'));
      cleanup.push(() => rm(dir, { recursive: true, force: true }));
      const input: BootstrapInput = {
        podIp: APP_IP, namespace: 'demo', serviceAccount: 'web', trustDomain: TRUST_DOMAIN,
        identityDir: join(dir, 'identity'), drainSeconds: 5, meshCidrs: [], maxConnections: 100_000, ipv6: false, inboundPolicy: 'permissive',
      };
      await mkdir(input.identityDir);
      const ca = await makeCa('splice test CA');
      const web = await makeLeaf(ca, spiffe('web'));
      await writeIdentity(input.identityDir, 'v1', identityFiles(input, ca, web));

      const ns = await Netns.create(`splice-dp-${process.pid}-${randomInt(1e6)}`);
      cleanup.push(() => ns.destroy());
      for (const args of [
        ['link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1'],
        ['addr', 'add', `${APP_IP}/24`, 'dev', 'v0'],
        ['link', 'set', 'v0', 'up'],
        ['link', 'set', 'v1', 'up'],
      ]) await ns.must('ip', args);
      for (const [port, to] of [[INBOUND_APP_PORT, PROXY_PORTS.inbound], [OUTBOUND_APP_PORT, PROXY_PORTS.outbound]]) {
        await ns.must('iptables', [
          '-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-m', 'owner', '--uid-owner', String(CLIENT_UID),
          '-d', APP_IP, '--dport', String(port), '-j', 'REDIRECT', '--to-ports', String(to),
        ]);
      }

      const app = ns.spawn(process.execPath, ['-e', `
        const net = require('node:net');
        let n = 0;
        for (const port of [${INBOUND_APP_PORT}, ${OUTBOUND_APP_PORT}])
          // A reset from a client (Envoy carries them through) must not end the app.
          net.createServer((s) => s.on('error', () => {}).pipe(s)).listen(port, '${APP_IP}', () => ++n === 2 && console.log('listening'));
      `]);
      const appOut = capture(app);
      await eventually('the echo app to listen', async () => (appOut.stdout().includes('listening') ? true : undefined));

      const envoy = startEnvoy(ns, bin, renderBootstrap(input), 10_000 + randomInt(50_000));
      lab = { input, ca, web, ns, envoy, cleanup };
      await eventually('Envoy to report LIVE on :15021/ready', async () => {
        assert.equal(envoy.child.exitCode, null, `Envoy exited:\n${envoy.stderr()}`);
        const r = await probe(ns, { kind: 'http', host: '127.0.0.1', port: PROXY_PORTS.readiness, path: '/ready' });
        return r.status === 200 ? r : undefined;
      }).catch((e: unknown) => {
        throw new Error(`${String(e)}\n--- envoy log ---\n${envoy.stderr().slice(-4000)}`);
      });
    } catch (e) {
      for (const undo of cleanup.reverse()) await undo();
      lab = undefined;
      throw e;
    }
  });

  after(async () => {
    for (const undo of (lab?.cleanup ?? []).reverse()) await undo();
  });

  test('envoy --mode validate accepts the bootstrap', async () => {
    const r = await run(envoyBinary(), ['--mode', 'validate', '--config-yaml', JSON.stringify(renderBootstrap(the().input))]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout + r.stderr, /configuration .* OK/);
  });

  test(':15021/ready answers 200 LIVE', async () => {
    const r = await probe(the().ns, { kind: 'http', host: APP_IP, port: PROXY_PORTS.readiness, path: '/ready' });
    assert.equal(r.status, 200);
    assert.equal(r.body?.trim(), 'LIVE');
  });

  test(':15090/stats/prometheus serves Prometheus text with envoy_ metrics', async () => {
    const r = await probe(the().ns, { kind: 'http', host: APP_IP, port: PROXY_PORTS.prometheus, path: '/stats/prometheus' });
    assert.equal(r.status, 200);
    assert.match(r.contentType ?? '', /^text\/plain/);
    assert.match(r.body ?? '', /^# TYPE envoy_\w+ (counter|gauge|histogram)$/m);
    assert.match(r.body ?? '', /^envoy_server_live(\{\})? 1$/m);
  });

  test('nothing else of the admin is reachable through :15021 or :15090', async () => {
    for (const port of [PROXY_PORTS.readiness, PROXY_PORTS.prometheus]) {
      for (const path of ['/config_dump', '/quitquitquit', '/stats', '/ready/../config_dump']) {
        const r = await probe(the().ns, { kind: 'http', host: APP_IP, port, path });
        assert.equal(r.status, 404, `${port}${path}: ${JSON.stringify(r).slice(0, 200)}`);
      }
    }
  });

  test('the admin port answers on loopback only', async () => {
    const local = await probe(the().ns, { kind: 'http', host: '127.0.0.1', port: PROXY_PORTS.admin, path: '/ready' });
    assert.equal(local.status, 200, 'admin is up on 127.0.0.1 (else the next check proves nothing)');
    const remote = await probe(the().ns, { kind: 'http', host: APP_IP, port: PROXY_PORTS.admin, path: '/ready' });
    assert.equal(remote.error, 'ECONNREFUSED');
  });

  test('a mesh client completes mTLS on 15008 naming the app port, sees the spiffe identity, and reaches the app', async () => {
    const client = await makeLeaf(the().ca, spiffe('client'));
    const r = await probe(the().ns, tls({ cert: client.cert, key: client.key }), CLIENT_UID);
    assert.equal(r.error, undefined);
    assert.equal(r.peerSan, `URI:${spiffe('web')}`);
    assert.equal(r.data, 'ping', 'the app echoed through Envoy');
    const entry = await accessLog((e) => e.peer_identity === spiffe('client'));
    assert.equal(entry.direction, 'inbound');
    assert.equal(entry.filter_chain, 'inbound-mtls');
    assert.equal(entry.original_destination, `${APP_IP}:${INBOUND_APP_PORT}`);
  });

  test('15008 refuses TLS without a client certificate, from another CA or trust domain, without the mesh ALPN, and server names that are not the app\'s port', async () => {
    const foreignCa = await makeCa('foreign CA');
    const foreign = await makeLeaf(foreignCa, spiffe('client'));
    const otherDomain = await makeLeaf(the().ca, spiffe('client', 'other.example'));
    const good = await makeLeaf(the().ca, spiffe('client'));
    const cases: Array<[string, Partial<Extract<ProbeRequest, { kind: 'tls' }>>]> = [
      ['no certificate', {}],
      ['another CA', { cert: foreign.cert, key: foreign.key }],
      ['another trust domain', { cert: otherDomain.cert, key: otherDomain.key }],
      ['another ALPN', { cert: good.cert, key: good.key, alpn: ['h2'] }],
      // The proxy's own ports: closed before any handshake.
      ['the admin port as server name', { cert: good.cert, key: good.key, servername: String(PROXY_PORTS.admin) }],
      ['the inbound capture port as server name', { cert: good.cert, key: good.key, servername: String(PROXY_PORTS.inbound) }],
      ['15008 itself as server name', { cert: good.cert, key: good.key, servername: String(PROXY_PORTS.mtls) }],
    ];
    // These complete the handshake (the peer is a mesh client), then find nothing to reach.
    const nowhere: Array<[string, Partial<Extract<ProbeRequest, { kind: 'tls' }>>]> = [
      // Not a port: no destination is set, and the connection finds no host.
      ['a server name that is not a port', { cert: good.cert, key: good.key, servername: 'web.demo.svc' }],
      // Port 0: nothing can be dialled there.
      ['port 0 as server name', { cert: good.cert, key: good.key, servername: '0' }],
    ];
    for (const [what, extra] of [...cases, ...nowhere]) {
      const r = await probe(the().ns, tls(extra), CLIENT_UID);
      assert.equal(r.data, '', `${what}: no byte reaches the app (${JSON.stringify(r)})`);
      // A TLS alert, a reset or a close from Envoy, not a client that merely gave up waiting.
      assert.notEqual(r.error, 'timeout', `${what}: ${JSON.stringify(r)}`);
      if (cases.some(([w]) => w === what)) assert.ok(r.error !== undefined, `${what}: refused in the handshake: ${JSON.stringify(r)}`);
    }
    await live();
  });

  test('a client that sends its ClientHello to 15008 and then stalls is closed after 10 s, not held', async () => {
    const r = await probe(the().ns, { kind: 'tls-stall', host: APP_IP, port: PROXY_PORTS.mtls, alpn: [MESH_ALPN], servername: String(INBOUND_APP_PORT), timeoutMs: 20_000 }, CLIENT_UID);
    process.stdout.write(`stalled handshake on 15008 closed after ${r.closedAfterMs} ms\n`);
    assert.equal(r.error, undefined, JSON.stringify(r));
    assert.ok(Number(r.closedAfterMs) >= 9_000 && Number(r.closedAfterMs) <= 14_000, JSON.stringify(r));
    await live();
  });

  test('TLS to an app port is the app\'s own, whatever its ALPN: it reaches the app unterminated', async () => {
    const client = await makeLeaf(the().ca, spiffe('client'));
    // The echo app answers the ClientHello with itself, which no TLS client accepts; what
    // matters is that Envoy did not answer it: no certificate, and the bytes reached the app.
    // Only 15008 terminates mTLS, so even the mesh ALPN passes through on an app port.
    for (const alpn of [['h2', 'http/1.1'], [MESH_ALPN]]) {
      const before = accessLogEntries(the().envoy.stdout()).length;
      const r = await probe(the().ns, tls({ port: INBOUND_APP_PORT, cert: client.cert, key: client.key, alpn }), CLIENT_UID);
      assert.equal(r.peerSan, undefined, `Envoy must not terminate it: ${JSON.stringify(r)}`);
      const entry = await eventually('the passthrough connection in the access log', async () =>
        accessLogEntries(the().envoy.stdout()).slice(before).find((e) => e.filter_chain === 'inbound-passthrough' && Number(e.bytes_received) > 100 && e.original_destination === `${APP_IP}:${INBOUND_APP_PORT}`));
      assert.equal(entry.peer_identity, null, 'no peer identity: Envoy never saw a client certificate');
    }
    await live();
  });

  test('plaintext still reaches the app inbound (permissive) and outbound (passthrough), and is logged', async () => {
    for (const [port, chain] of [[INBOUND_APP_PORT, 'inbound-passthrough'], [OUTBOUND_APP_PORT, 'outbound-passthrough']] as const) {
      const send = `hello through ${chain}`;
      const r = await probe(the().ns, { kind: 'tcp', host: APP_IP, port, send }, CLIENT_UID);
      assert.equal(r.data, send, chain);
      const entry = await accessLog((e) => e.filter_chain === chain && e.bytes_received === send.length);
      assert.equal(entry.original_destination, `${APP_IP}:${port}`);
    }
  });

  test('a plaintext connection dialled straight at 15006, 15001 or 15008 is closed, not looped back into Envoy', async () => {
    for (const port of [PROXY_PORTS.inbound, PROXY_PORTS.outbound, PROXY_PORTS.mtls]) {
      const r = await probe(the().ns, { kind: 'tcp', host: APP_IP, port, send: 'loop?' });
      assert.equal(r.data, '', `port ${port}`);
      assert.notEqual(r.error, 'timeout', `port ${port} closes at once`);
    }
    await live();
  });

  test('a rotated identity is served without restarting Envoy', async () => {
    const { input, ca, envoy } = the();
    const pid = envoy.child.pid;
    const client = await makeLeaf(ca, spiffe('client'));
    const before = await probe(the().ns, tls({ cert: client.cert, key: client.key }), CLIENT_UID);
    assert.equal(before.peerFingerprint, new X509Certificate(the().web.cert).fingerprint256);
    const rotated = await makeLeaf(ca, spiffe('web'));
    await writeIdentity(input.identityDir, 'v2', identityFiles(input, ca, rotated));
    const after = await eventually('the rotated certificate to be served', async () => {
      const r = await probe(the().ns, tls({ cert: client.cert, key: client.key }), CLIENT_UID);
      return r.peerFingerprint !== before.peerFingerprint ? r : undefined;
    });
    assert.equal(after.peerFingerprint, new X509Certificate(rotated.cert).fingerprint256);
    assert.equal(after.data, 'ping');
    assert.equal(envoy.child.pid, pid);
    assert.equal(envoy.child.exitCode, null);
  });
});
