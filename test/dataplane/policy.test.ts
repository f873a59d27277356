// Strict inbound policy and allowed callers on real Envoy, with real iptables: pod S of
// mesh.ts is strict and allows A's identity only (splice.dev/allow-from: demo/a), so
// A gets through, B (a mesh peer of another identity) does not, and neither does D
// (outside the mesh) in plaintext or with TLS of its own. D also stands in for the
// kubelet: it asks S's health listener the probes splice rewrote, which must still say
// what the app's own probes would have said. Needs root.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MESH_ALPN } from '../../src/inject/bootstrap.js';
import { generateMeshRoot, issueIdentity } from '../../src/identity/issue.js';
import { parseMeshCa } from '../../src/identity/ca.js';
import { PROXY_PORTS } from '../../src/iptables/options.js';
import { ENVOY_VERSION, eventually, probe, type ProbeResult } from './envoy.js';
import { APP_UID, IP, entries, logged, spiffeOf, startMesh, stats, TRUST_DOMAIN, type LogEntry, type Mesh, type MeshPod } from './mesh.js';
import { S_PORTS } from './probe-apps.js';
import { stop as killNow } from './netns.js';

const from = (e: LogEntry, ip: string) => String(e.downstream_remote_address ?? '').startsWith(`${ip}:`);

describe(`a strict pod that allows one identity: Envoy ${ENVOY_VERSION}`, () => {
  let mesh: Mesh | undefined;
  const m = (): Mesh => {
    assert.ok(mesh, 'set-up failed');
    return mesh;
  };
  const s = (): MeshPod => {
    assert.ok(m().s, 'pod S was not started');
    return m().s!;
  };
  const health = (path: string): Promise<ProbeResult> => probe(m().d, { kind: 'http', host: IP.s, port: PROXY_PORTS.readiness, path });
  const sum = async (p: MeshPod, filter: string) => [...(await stats(p, filter)).values()].reduce((a, b) => a + b, 0);

  before(async () => {
    mesh = await startMesh({ strictPod: true });
  });
  after(async () => {
    await mesh?.destroy();
  });

  test('the allowed identity (A) reaches the app through both proxies, and S logs who it was', async () => {
    const r = await probe(m().a.ns, { kind: 'http', host: IP.s, port: S_PORTS.http, path: '/from-a' }, APP_UID);
    assert.equal(r.status, 200, JSON.stringify(r));
    assert.match(r.body ?? '', /^pod-s .* GET \/from-a from /);
    const e = await logged(s(), 'the connection from A', (x) => x.filter_chain === 'inbound-mtls' && x.peer_identity === spiffeOf('a'));
    assert.equal(e.downstream_transport_failure_reason, null);
  });

  test('a mesh peer of another identity (B) is refused in the handshake; S logs the identity it refused', async () => {
    const before = await sum(s(), 'ssl.fail_verify_san');
    const r = await probe(m().b.ns, { kind: 'http', host: IP.s, port: S_PORTS.http, path: '/from-b' }, APP_UID);
    assert.equal(r.status, undefined, `B got an answer: ${JSON.stringify(r)}`);
    const e = await logged(s(), 'the refused connection from B', (x) => x.peer_identity === spiffeOf('b'));
    assert.ok(from(e, IP.b), JSON.stringify(e));
    assert.match(String(e.downstream_transport_failure_reason), /CERTIFICATE_VERIFY_FAILED.*SAN/);
    assert.equal(e.upstream_host, null, 'the app was never dialled');
    assert.ok((await sum(s(), 'ssl.fail_verify_san')) > before, 'counted as ssl.fail_verify_san');
    assert.ok(!entries(s()).some((x) => x.peer_identity === spiffeOf('b') && x.upstream_host !== null));
  });

  test('plaintext from outside the mesh (D) is closed unanswered, logged with D\'s address, and counted', async () => {
    const r = await probe(m().d, { kind: 'tcp', host: IP.s, port: S_PORTS.http, send: 'GET / HTTP/1.1\r\nHost: s\r\n\r\n' });
    assert.equal(r.data, '', `D got an answer: ${JSON.stringify(r)}`);
    const e = await logged(s(), 'the refused plaintext connection from D', (x) => x.filter_chain === 'inbound-refused' && from(x, IP.d));
    assert.equal(e.upstream_host, null);
    assert.equal(e.original_destination, `${IP.s}:${S_PORTS.http}`);
    const refused = await stats(s(), '^tcp\\.inbound_refused\\.downstream_cx_total$');
    assert.ok((refused.get('tcp.inbound_refused.downstream_cx_total') ?? 0) >= 1, JSON.stringify([...refused]));
  });

  test('TLS from outside the mesh is refused: to the app port, and to 15008 with no certificate or one the mesh did not sign', async () => {
    const ca = m().ca.trustBundle;
    const toApp = await probe(m().d, { kind: 'tls', host: IP.s, port: S_PORTS.http, send: 'x', ca, servername: 's' });
    assert.ok(toApp.error !== undefined && !toApp.data, `TLS to the app port: ${JSON.stringify(toApp)}`);

    const noCert = await probe(m().d, { kind: 'tls', host: IP.s, port: PROXY_PORTS.mtls, send: 'GET / HTTP/1.0\r\n\r\n', ca, alpn: [MESH_ALPN], servername: String(S_PORTS.http) });
    assert.ok(!noCert.data?.includes('pod-s'), `no certificate: ${JSON.stringify(noCert)}`);
    const e = await logged(s(), 'the handshake without a certificate', (x) => from(x, IP.d) && x.filter_chain === 'inbound-mtls' && x.peer_identity === null);
    assert.match(String(e.downstream_transport_failure_reason), /PEER_DID_NOT_RETURN_A_CERTIFICATE|CERTIFICATE_REQUIRED|TLS_error/);

    // Claims A's identity, but under a CA of its own.
    const root = await generateMeshRoot(TRUST_DOMAIN);
    const foreign = parseMeshCa({ 'tls.crt': root.cert, 'tls.key': root.key, 'ca.crt': root.cert }, 'a foreign CA');
    const impostor = await issueIdentity(foreign, { trustDomain: TRUST_DOMAIN, namespace: 'demo', serviceAccount: 'a' }, 3600_000);
    const forged = await probe(m().d, { kind: 'tls', host: IP.s, port: PROXY_PORTS.mtls, send: 'GET / HTTP/1.0\r\n\r\n', ca, cert: impostor.cert, key: impostor.key, alpn: [MESH_ALPN], servername: String(S_PORTS.http) });
    assert.ok(!forged.data?.includes('pod-s'), `a certificate of another CA: ${JSON.stringify(forged)}`);
    const f = await logged(s(), 'the handshake with a foreign certificate', (x) => from(x, IP.d) && x.peer_identity === spiffeOf('a'));
    assert.match(String(f.downstream_transport_failure_reason), /CERTIFICATE_VERIFY_FAILED/);
    assert.equal(f.upstream_host, null);
  });

  test('an HTTP probe is forwarded with its path, query and the Host the kubelet would send; a failing status still fails', async () => {
    const ok = await health('/app-health/app/readiness');
    assert.equal(ok.status, 200, JSON.stringify(ok));
    assert.equal(ok.body, `healthy /healthz?full=1 host=${IP.s}:${S_PORTS.http}`);
    const failing = await health('/app-health/side/readiness');
    assert.equal(failing.status, 503, JSON.stringify(failing));
    assert.equal(failing.body, 'failing');
    // Nothing else of the app is reachable through the health listener: not another path,
    // not the probe's path with a query of the caller's, not another method.
    assert.equal((await health('/app-health/app/other')).status, 404);
    assert.equal((await health('/healthz')).status, 404);
    assert.equal((await health('/app-health/app/readiness?admin=1')).status, 404);
    const post = await probe(m().d, { kind: 'tcp', host: IP.s, port: PROXY_PORTS.readiness, send: 'POST /app-health/app/readiness HTTP/1.1\r\nHost: s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n' });
    assert.match(post.data ?? '', /^HTTP\/1\.1 404 /, JSON.stringify(post));
  });

  test('a gRPC probe passes while the service is SERVING and fails when it is not', async () => {
    await eventually('the gRPC startup probe to pass', async () => ((await health('/app-health/app/startup')).status === 200 ? true : undefined));
    // 503 because the app said NOT_SERVING, not because nothing was asked yet: the check ran and failed.
    await eventually('the proxy to have asked about "down" and been told NOT_SERVING', async () =>
      ((await stats(s(), '^cluster\\.app_health_side_liveness\\.health_check\\.failure$')).get('cluster.app_health_side_liveness.health_check.failure') ?? 0) >= 2 ? true : undefined);
    const down = await health('/app-health/side/liveness');
    assert.equal(down.status, 503, JSON.stringify(down));
  });

  test('a TCP probe passes while the app listens, and fails once its port is closed', async () => {
    await eventually('the TCP probe to pass', async () => ((await health('/app-health/app/liveness')).status === 200 ? true : undefined));
    const tcp = m().sApps?.tcp;
    assert.ok(tcp);
    await killNow(tcp);
    const failed = await eventually('the TCP probe to fail', async () => {
      const r = await health('/app-health/app/liveness');
      return r.status === 503 ? r : undefined;
    }, { timeoutMs: 10_000 });
    assert.equal(failed.status, 503);
    // The HTTP probe of the same pod is unaffected: each probe answers for its own port.
    assert.equal((await health('/app-health/app/readiness')).status, 200);
  });
});
