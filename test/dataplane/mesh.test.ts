// The data plane end to end: two pods that splice's core injected, each with real
// iptables rules from `splice iptables --apply` and the real Envoy running the bootstrap
// splice-proxy gets, talking across a bridge. The topology is in mesh.ts. Needs root.
//
// Only IPv4 traffic is sent here: the rules for IPv6 are applied as well where the
// namespace has it (the last test says which), and their shape is proven by
// iptables.test.ts.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MESH_ALPN } from '../../src/inject/bootstrap.js';
import { issueIdentity } from '../../src/identity/issue.js';
import { PROXY_PORTS } from '../../src/iptables/options.js';
import { ENVOY_VERSION, eventually, probe, type ProbeResult } from './envoy.js';
import { writeIdentity } from './identity-volume.js';
import { APP_PORT, APP_UID, EXCLUDED_PORT, IP, MESH_CIDR, SERVICE, TRUST_DOMAIN, entries, logged, spiffeOf, startCapture, startMesh, stat, type Mesh, type MeshPod } from './mesh.js';

function get(from: MeshPod['ns'], host: string, port: number, path: string, uid = APP_UID): Promise<ProbeResult> {
  return probe(from, { kind: 'http', host, port, path }, uid);
}

/** A TLS record header for a handshake, then a ClientHello: what a TLS connection opens with. */
function hasClientHello(bytes: Buffer): boolean {
  for (let i = bytes.indexOf(0x16); i >= 0 && i + 5 < bytes.length; i = bytes.indexOf(0x16, i + 1)) {
    if (bytes[i + 1] === 0x03 && (bytes[i + 2] ?? 9) <= 0x04 && bytes[i + 5] === 0x01) return true;
  }
  return false;
}

describe(`two meshed pods: splice iptables and Envoy ${ENVOY_VERSION}, mTLS between them`, () => {
  let mesh: Mesh | undefined;
  const m = (): Mesh => {
    assert.ok(mesh, 'set-up failed');
    return mesh;
  };

  before(async () => {
    assert.equal(process.getuid?.(), 0, 'the dataplane tests need root (network namespaces, iptables)');
    mesh = await startMesh();
  });

  after(async () => {
    await mesh?.destroy();
  });

  test('A\'s app reaches B\'s app on B\'s IP and port, through both proxies, and both record it', async () => {
    const { a, b } = m();
    const r = await get(a.ns, IP.b, APP_PORT, '/hello-from-a');
    assert.equal(r.error, undefined, JSON.stringify(r));
    assert.equal(r.status, 200);
    // B's app saw the request arrive from its own proxy (the inbound passthrough
    // connects from the pod's address), not from A: the bytes went through both Envoys.
    assert.equal(r.body, `pod-b ${IP.b}:${APP_PORT} GET /hello-from-a from ${IP.b}`);

    const out = await logged(a, 'the outbound connection', (e) => e.original_destination === `${IP.b}:${APP_PORT}` && e.direction === 'outbound');
    assert.equal(out.filter_chain, 'outbound-mtls');
    assert.equal(out.upstream_cluster, 'outbound-mtls');
    // A's proxy dialled B's proxy on its mTLS port, naming the app port in the server name.
    assert.equal(out.upstream_host, `${IP.b}:${PROXY_PORTS.mtls}`);
    assert.equal(out.peer_identity, spiffeOf('b'), 'A\'s proxy verified it talked to B');
    const inbound = await logged(b, 'the inbound connection', (e) => e.direction === 'inbound' && e.filter_chain === 'inbound-mtls');
    assert.equal(inbound.original_destination, `${IP.b}:${APP_PORT}`);

    assert.ok((await stat(a, 'cluster.outbound-mtls.upstream_cx_total')) >= 1, 'A: a connection of the mTLS cluster');
    assert.ok((await stat(a, 'cluster.outbound-mtls.ssl.handshake')) >= 1, 'A: a TLS handshake as client');
    assert.ok((await stat(b, 'listener.inbound_mtls.ssl.handshake')) >= 1, 'B: a TLS handshake on the mTLS listener');
    assert.ok((await stat(b, 'tcp.inbound_mtls.downstream_cx_total')) >= 1, 'B: a connection on the mTLS chain');
  });

  test('the bytes between the pods are TLS with the mesh ALPN: no plaintext request or answer crosses the wire', async () => {
    const { a, b, dir } = m();
    const file = join(dir, 'a-to-b.pcap');
    const cap = await startCapture(b.ns, file, ['tcp', 'and', 'host', IP.a]);
    const r = await get(a.ns, IP.b, APP_PORT, '/secret-path-a-to-b');
    const counts = await cap.stop();
    assert.equal(r.status, 200, JSON.stringify(r));
    assert.match(r.body ?? '', /GET \/secret-path-a-to-b/, 'the request did arrive');
    const wire = await readFile(file);
    assert.ok(hasClientHello(wire), `a TLS ClientHello is on the wire (${wire.length} bytes captured; ${counts.trim()})`);
    assert.ok(wire.includes(MESH_ALPN), 'the ClientHello offers the mesh ALPN');
    assert.ok(wire.includes(Buffer.from(String(APP_PORT))), 'and names the app port as its server name');
    assert.equal(wire.includes('/secret-path-a-to-b'), false, 'the request line is not on the wire in plaintext');
    assert.equal(wire.includes('pod-b '), false, 'the answer is not on the wire in plaintext');
  });

  test('B\'s access log names A\'s SPIFFE identity', async () => {
    const { a, b } = m();
    await get(a.ns, IP.b, APP_PORT, '/who-am-i');
    const e = await logged(b, 'A\'s identity', (x) => x.direction === 'inbound' && x.peer_identity === spiffeOf('a'));
    assert.equal(e.filter_chain, 'inbound-mtls');
    assert.equal(e.tls_version, 'TLSv1.3', 'both ends are splice\'s proxies: TLS 1.3');
  });

  test('A → a Service discovery told of: straight to B\'s proxy as mTLS that B\'s own identity must answer, nothing in plaintext', async () => {
    const { a, b, dir } = m();
    const file = join(dir, 'a-to-web.pcap');
    const cap = await startCapture(b.ns, file, ['tcp', 'and', 'host', IP.a]);
    // 198.18.1.80 is no host's address: only a proxy that knows the Service reaches B.
    const r = await get(a.ns, SERVICE.web, SERVICE.port, '/secret-via-service');
    const counts = await cap.stop();
    assert.equal(r.status, 200, JSON.stringify(r));
    assert.equal(r.body, `pod-b ${IP.b}:${APP_PORT} GET /secret-via-service from ${IP.b}`);
    const out = await logged(a, 'the connection to the Service', (e) => e.original_destination === `${SERVICE.web}:${SERVICE.port}`);
    assert.equal(out.filter_chain, 'outbound-service');
    assert.equal(out.upstream_cluster, `svc|demo|web|${SERVICE.port}`);
    assert.equal(out.upstream_host, `${IP.b}:${PROXY_PORTS.mtls}`);
    assert.equal(out.peer_identity, spiffeOf('b'));
    const inbound = await logged(b, 'A\'s identity on the Service connection', (e) => e.direction === 'inbound' && e.peer_identity === spiffeOf('a') && e.original_destination === `${IP.b}:${APP_PORT}`);
    assert.equal(inbound.filter_chain, 'inbound-mtls');
    const wire = await readFile(file);
    assert.ok(hasClientHello(wire) && wire.includes(MESH_ALPN), `TLS with the mesh ALPN on the wire (${counts.trim()})`);
    assert.equal(wire.includes('/secret-via-service'), false, 'the request is not on the wire in plaintext');
    assert.equal(wire.includes('pod-b '), false, 'the answer is not on the wire in plaintext');
  });

  test('a Service with a meshed and an unmeshed endpoint: mTLS to the one, the app\'s bytes as sent to the other', async () => {
    const { a } = m();
    const bodies = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const r = await get(a.ns, SERVICE.mixed, SERVICE.port, `/mixed-${i}`);
      assert.equal(r.status, 200, JSON.stringify(r));
      bodies.add((r.body ?? '').split(' ')[0] ?? '');
    }
    assert.deepEqual([...bodies].sort(), ['outsider-c', 'pod-b'], 'both endpoints answered (round robin)');
    const toC = await logged(a, 'the plaintext leg to C', (e) => e.original_destination === `${SERVICE.mixed}:${SERVICE.port}` && e.upstream_host === `${IP.c}:${APP_PORT}`);
    assert.equal(toC.peer_identity, null, 'C is not in the mesh: no TLS');
    const toB = await logged(a, 'the mTLS leg to B', (e) => e.original_destination === `${SERVICE.mixed}:${SERVICE.port}` && e.upstream_host === `${IP.b}:${PROXY_PORTS.mtls}`);
    assert.equal(toB.peer_identity, spiffeOf('b'));
  });

  test('an endpoint whose proxy proves another identity than its pod\'s service account is refused', async () => {
    const { a } = m();
    const r = await get(a.ns, SERVICE.impostor, SERVICE.port, '/impostor');
    assert.notEqual(r.status, 200, `B answers as sa/b, discovery said sa/x: ${JSON.stringify(r)}`);
    const e = await logged(a, 'the refused handshake', (x) => x.original_destination === `${SERVICE.impostor}:${SERVICE.port}`);
    assert.match(String(e.upstream_transport_failure_reason), /CERTIFICATE_VERIFY_FAILED|verify/i, JSON.stringify(e));
  });

  test('a client with no mesh certificate reaches B in permissive mode, in plaintext, and the capture sees it', async () => {
    const { b, c, dir } = m();
    const file = join(dir, 'c-to-b.pcap');
    const cap = await startCapture(b.ns, file, ['tcp', 'port', String(APP_PORT)]);
    const r = await get(c, IP.b, APP_PORT, '/plain-from-c');
    const counts = await cap.stop();
    assert.equal(r.status, 200, JSON.stringify(r));
    assert.equal(r.body, `pod-b ${IP.b}:${APP_PORT} GET /plain-from-c from ${IP.b}`);
    const e = await logged(b, 'C\'s plaintext connection', (x) => x.direction === 'inbound' && String(x.downstream_remote_address).startsWith(`${IP.c}:`));
    assert.equal(e.filter_chain, 'inbound-passthrough');
    assert.equal(e.peer_identity, null);
    // The same capture that found no plaintext between A and B does see it here.
    assert.ok((await readFile(file)).includes('GET /plain-from-c'), `plaintext is visible to the capture (${counts.trim()})`);
  });

  test('a destination outside the mesh CIDRs goes through A\'s proxy untouched, in plaintext', async () => {
    const { a } = m();
    assert.equal(MESH_CIDR, '198.18.0.0/29', `${IP.c} is outside it`);
    const r = await get(a.ns, IP.c, APP_PORT, '/to-outsider');
    assert.equal(r.body, `outsider-c ${IP.c}:${APP_PORT} GET /to-outsider from ${IP.a}`);
    const e = await logged(a, 'the passthrough connection', (x) => x.original_destination === `${IP.c}:${APP_PORT}`);
    assert.equal(e.filter_chain, 'outbound-passthrough');
    assert.equal(e.peer_identity, null);
  });

  test('excluded ports and CIDRs bypass the proxies; the proxy\'s own traffic is not looped', async () => {
    const { a, b } = m();
    const count = (p: MeshPod, dest: string) => entries(p).filter((e) => e.original_destination === dest).length;
    // Log lines are flushed every second: a bypass is proven by an entry that does not
    // appear, so afterwards a request that does go through A's proxy is sent and waited
    // for; by the time its entry is out, any entry of the earlier ones would be too.
    const marker = async () => {
      const n = count(a, `${IP.c}:${APP_PORT}`);
      await get(a.ns, IP.c, APP_PORT, '/marker');
      await eventually('the marker connection in A\'s log', async () => (count(a, `${IP.c}:${APP_PORT}`) > n ? true : undefined));
    };
    const before = {
      aExcluded: count(a, `${IP.b}:${EXCLUDED_PORT}`),
      bExcluded: count(b, `${IP.b}:${EXCLUDED_PORT}`),
      cidr: count(a, `${IP.cExcluded}:${APP_PORT}`),
      aToB: count(a, `${IP.b}:${APP_PORT}`),
    };

    // A excludes outbound 9090 and B excludes inbound 9090: straight from app to app.
    const port = await get(a.ns, IP.b, EXCLUDED_PORT, '/excluded-port');
    assert.equal(port.body, `pod-b ${IP.b}:${EXCLUDED_PORT} GET /excluded-port from ${IP.a}`, 'B\'s app saw A\'s address: no proxy between');
    // A excludes 198.18.0.11/32.
    const cidr = await get(a.ns, IP.cExcluded, APP_PORT, '/excluded-cidr');
    assert.equal(cidr.body, `outsider-c ${IP.cExcluded}:${APP_PORT} GET /excluded-cidr from ${IP.a}`);
    // The proxy's uid dials a meshed destination itself: not redirected to its own
    // outbound listener (which would be a loop), so it arrives at B's inbound as plaintext.
    const own = await get(a.ns, IP.b, APP_PORT, '/from-proxy-uid', a.proxyUid);
    assert.equal(own.status, 200, JSON.stringify(own));

    await marker();
    assert.equal(count(a, `${IP.b}:${APP_PORT}`), before.aToB, 'A\'s proxy never saw its own uid\'s connection');
    assert.equal(count(a, `${IP.b}:${EXCLUDED_PORT}`), before.aExcluded, 'A\'s proxy never saw the excluded port');
    assert.equal(count(b, `${IP.b}:${EXCLUDED_PORT}`), before.bExcluded, 'B\'s proxy never saw the excluded port');
    assert.equal(count(a, `${IP.cExcluded}:${APP_PORT}`), before.cidr, 'A\'s proxy never saw the excluded CIDR');
    const fromProxy = await logged(b, 'the proxy uid\'s connection', (e) => e.direction === 'inbound' && e.downstream_remote_address !== undefined && String(e.downstream_remote_address).startsWith(`${IP.a}:`) && e.filter_chain === 'inbound-passthrough');
    assert.equal(fromProxy.original_destination, `${IP.b}:${APP_PORT}`);
    for (const p of [a, b]) {
      for (const guard of ['tcp.loop_guard_15001.downstream_cx_total', 'tcp.loop_guard_15006.downstream_cx_total']) {
        assert.equal(await stat(p, guard), 0, `pod ${p.name}: no connection came back into its own capture port (${guard})`);
      }
    }
  });

  test('rotated certificate files are served without restarting Envoy', async () => {
    const { a, b, c, ca } = m();
    const pid = b.envoy.child.pid;
    const meshClient = await issueIdentity(ca, { trustDomain: TRUST_DOMAIN, namespace: 'demo', serviceAccount: 'probe' }, 3600_000);
    const served = async (): Promise<string | undefined> => {
      const r = await probe(c, { kind: 'tls', host: IP.b, port: PROXY_PORTS.mtls, servername: String(APP_PORT), send: 'GET / HTTP/1.0\r\n\r\n', ca: ca.trustBundle, cert: meshClient.cert, key: meshClient.key, alpn: [MESH_ALPN] });
      return r.peerFingerprint;
    };
    const first = await served();
    assert.equal(first, new X509Certificate(b.identity.cert).fingerprint256, 'B serves its first certificate');

    const next = await issueIdentity(ca, { trustDomain: TRUST_DOMAIN, namespace: 'demo', serviceAccount: 'b' }, 3600_000);
    await writeIdentity(b.identityDir, 'v2', { 'tls.crt': next.cert, 'tls.key': next.key, 'ca.crt': next.trustBundle, ...b.sdsFiles }, b.proxyUid);
    const fingerprint = await eventually('B to serve the rotated certificate', async () => {
      const f = await served();
      return f !== first ? f : undefined;
    });
    assert.equal(fingerprint, new X509Certificate(next.cert).fingerprint256);
    assert.equal(b.envoy.child.pid, pid);
    assert.equal(b.envoy.child.exitCode, null, 'the same Envoy process, still running');

    const r = await get(a.ns, IP.b, APP_PORT, '/after-rotation');
    assert.equal(r.status, 200, `A still reaches B over mTLS after the rotation: ${JSON.stringify(r)}`);
    await logged(a, 'an mTLS connection after the rotation', (e) => e.filter_chain === 'outbound-mtls' && e.peer_identity === spiffeOf('b') && Number(e.bytes_sent) > 0 && String(e.start_time) >= new Date(Date.now() - 30_000).toISOString());
  });

  test('from outside the pod, :15090/stats/prometheus is scrapeable and :15021/ready answers 200', async () => {
    const { a, b, c } = m();
    for (const [p, ip] of [[a, IP.a], [b, IP.b]] as const) {
      const ready = await get(c, ip, PROXY_PORTS.readiness, '/ready');
      assert.equal(ready.status, 200, `pod ${p.name} /ready: ${JSON.stringify(ready)}`);
      const metrics = await get(c, ip, PROXY_PORTS.prometheus, '/stats/prometheus');
      assert.equal(metrics.status, 200);
      assert.match(metrics.contentType ?? '', /^text\/plain/);
      assert.match(metrics.body ?? '', /^envoy_server_live(\{\})? 1$/m);
    }
    const scraped = (await get(c, IP.a, PROXY_PORTS.prometheus, '/stats/prometheus')).body ?? '';
    assert.match(scraped, /^envoy_cluster_upstream_cx_total\{envoy_cluster_name="outbound-mtls"\} [1-9]\d*$/m, 'the mTLS traffic shows in the scrape');
  });

  test('a meshed client (a Prometheus in the mesh) scrapes B\'s :15090 and probes its :15021, over mTLS through 15008', async () => {
    const { a } = m();
    const ready = await get(a.ns, IP.b, PROXY_PORTS.readiness, '/ready');
    assert.equal(ready.status, 200, JSON.stringify(ready));
    const metrics = await get(a.ns, IP.b, PROXY_PORTS.prometheus, '/stats/prometheus');
    assert.equal(metrics.status, 200, JSON.stringify(metrics).slice(0, 300));
    assert.match(metrics.body ?? '', /^envoy_server_live(\{\})? 1$/m);
    for (const port of [PROXY_PORTS.readiness, PROXY_PORTS.prometheus]) {
      const e = await logged(a, `the scrape of ${port}`, (x) => x.original_destination === `${IP.b}:${port}`);
      assert.equal(e.filter_chain, 'outbound-mtls');
      assert.equal(e.peer_identity, spiffeOf('b'));
    }
  });

  test('splice-init installed IPv4 rules in both pods, and says what it did for IPv6', async () => {
    for (const p of [m().a, m().b]) {
      const saved = await p.ns.must('iptables-save', ['-t', 'nat']);
      assert.match(saved, /-A SPLICE_REDIRECT -p tcp -j REDIRECT --to-ports 15001/);
      assert.match(saved, /-A SPLICE_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006/);
      const v6 = await p.ns.exec('ip6tables-save', ['-t', 'nat']);
      const hasV6 = v6.code === 0 && v6.stdout.includes('SPLICE_REDIRECT');
      // Either IPv6 got the same rules, or splice-init said why not: never silently neither.
      assert.ok(hasV6 || /ipv6/i.test(p.initOutput), `pod ${p.name}: IPv6 rules or a reason (init said: ${p.initOutput.trim()})`);
      process.stdout.write(`# pod ${p.name}: IPv6 ${hasV6 ? 'rules installed' : `not installed: ${p.initOutput.trim()}`}\n`);
    }
  });
});
