// Scenario 10: a strict Deployment that allows one caller, on the real kubelet. Its HTTP,
// TCP and gRPC probes (startup, readiness, liveness) were rewritten by splice to the
// proxy's health listener, and the kubelet, which has no mesh identity, still finds the pod
// Ready and keeps it so. Closing the app's TCP listener fails the TCP readiness probe and
// the pod becomes unready, without a restart. A meshed client of the allowed service
// account gets through; a meshed client of another service account and a client outside
// the mesh are refused, and the server's proxy logs each refusal with who it was.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { apply, waitFor } from '../e2e/lib/kubectl.js';
import { call, create, deleteNamespace, deployment, exec, freshNamespace, isReady, logs, pod, pods, restarts, rollout, sleep, type Pod } from './lib/node.js';

const NS = 'node-policy';
const OUTSIDE = 'node-policy-outside';
let server: { name: string; ip: string };
const clients: Record<'allowed' | 'other' | 'outside', string> = { allowed: '', other: '', outside: '' };

const PROBES = {
  startupProbe: { grpc: { port: 9090 }, periodSeconds: 1, failureThreshold: 30 },
  readinessProbe: { tcpSocket: { port: 'tcp' }, periodSeconds: 1, failureThreshold: 1 },
  livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 2, failureThreshold: 3 },
};

before(async () => {
  await freshNamespace(NS, { 'splice.dev/inject': 'enabled' });
  await freshNamespace(OUTSIDE);
  for (const sa of ['server', 'allowed', 'other']) assert.equal(apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: NS } }).code, 0);
  create(
    deployment(NS, 'server', { serviceAccount: 'server', annotations: { 'splice.dev/allow-from': `${NS}/allowed` }, container: PROBES }),
    deployment(NS, 'allowed', { serviceAccount: 'allowed' }),
    deployment(NS, 'other', { serviceAccount: 'other' }),
    deployment(OUTSIDE, 'outside'),
  );
  for (const [ns, d] of [[NS, 'server'], [NS, 'allowed'], [NS, 'other'], [OUTSIDE, 'outside']] as const) rollout(ns, d);
  const sp = pods(NS, 'app=server')[0]!;
  server = { name: sp.metadata.name, ip: sp.status.podIP! };
  clients.allowed = pods(NS, 'app=allowed')[0]!.metadata.name;
  clients.other = pods(NS, 'app=other')[0]!.metadata.name;
  clients.outside = pods(OUTSIDE, 'app=outside')[0]!.metadata.name;
});
after(() => {
  deleteNamespace(NS);
  deleteNamespace(OUTSIDE);
});

interface AccessLine {
  filter_chain: string;
  peer_identity: string | null;
  downstream_remote_address: string;
  upstream_host: string | null;
  downstream_transport_failure_reason: string | null;
}
function accessLines(): AccessLine[] {
  return logs(NS, server.name, 'splice-proxy')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as AccessLine);
}
const appSpec = (p: Pod) => p.spec.containers.find((c) => c.name === 'app') as Record<string, { httpGet?: { path: string; port: number } }>;

test('10. the strict Deployment\'s probes go to the proxy\'s health listener, and the kubelet finds it Ready and keeps it so', async () => {
  const p = pod(NS, server.name);
  for (const [field, kind] of [['startupProbe', 'startup'], ['readinessProbe', 'readiness'], ['livenessProbe', 'liveness']] as const) {
    assert.deepEqual(appSpec(p)[field]?.httpGet, { path: `/app-health/app/${kind}`, port: 15021, scheme: 'HTTP' }, field);
  }
  const originals = JSON.parse(p.metadata.annotations?.['splice.dev/original-probes'] ?? '{}') as Record<string, unknown>;
  assert.deepEqual(Object.keys(originals.app as object).sort(), ['livenessProbe', 'readinessProbe', 'startupProbe']);
  assert.ok(isReady(p), 'the pod is Ready');
  // A dozen readiness periods and several liveness ones: still Ready, nothing restarted.
  await sleep(12_000);
  const later = pod(NS, server.name);
  assert.ok(isReady(later), 'the pod stayed Ready');
  assert.equal(restarts(later), 0, 'no container was restarted by a failing probe');
});

test('10. a meshed client of the allowed service account gets through', () => {
  assert.deepEqual(call(NS, clients.allowed, `http://${server.ip}:8080/`), [`200 hello from ${server.name}`]);
});

test('10. a meshed client of another service account and a client outside the mesh are refused, and the proxy logs both', async () => {
  const [other] = call(NS, clients.other, `http://${server.ip}:8080/`);
  assert.match(other ?? '', /^error /, `the other identity got: ${other}`);
  const [outside] = call(OUTSIDE, clients.outside, `http://${server.ip}:8080/`);
  assert.match(outside ?? '', /^error /, `the unmeshed client got: ${outside}`);
  const otherId = `spiffe://cluster.local/ns/${NS}/sa/other`;
  await waitFor('the server\'s proxy to log both refusals', () => {
    const lines = accessLines();
    const refusedIdentity = lines.find((l) => l.peer_identity === otherId);
    const refusedPlaintext = lines.find((l) => l.filter_chain === 'inbound-refused');
    return refusedIdentity && refusedPlaintext ? true : undefined;
  }, 15_000);
  const lines = accessLines();
  const byIdentity = lines.find((l) => l.peer_identity === otherId)!;
  assert.equal(byIdentity.upstream_host, null, 'the app was never dialled for the other identity');
  assert.match(byIdentity.downstream_transport_failure_reason ?? '', /SAN/);
  assert.ok(lines.every((l) => l.peer_identity !== otherId || l.upstream_host === null));
  const plaintext = lines.filter((l) => l.filter_chain === 'inbound-refused');
  assert.ok(plaintext.every((l) => l.upstream_host === null), JSON.stringify(plaintext));
  const allowed = lines.filter((l) => l.filter_chain === 'inbound-mtls' && l.upstream_host !== null);
  assert.ok(allowed.length > 0 && allowed.every((l) => l.peer_identity === `spiffe://cluster.local/ns/${NS}/sa/allowed`), JSON.stringify(allowed));
});

test('10. closing the app\'s TCP listener fails the TCP readiness probe: the pod becomes unready, and nothing restarts', async () => {
  // Over loopback, which the redirect leaves alone.
  const r = exec(NS, server.name, ['node', '/app/app.js', 'call', 'http://127.0.0.1:8080/close-tcp'], 'app');
  assert.equal(r.stdout.trim(), '200 tcp listener closed', r.stderr);
  await waitFor('the pod to become unready', () => (isReady(pod(NS, server.name)) ? undefined : true), 30_000);
  const p = pod(NS, server.name);
  const app = p.status.containerStatuses?.find((s) => s.name === 'app');
  assert.equal(app?.ready, false);
  assert.equal(restarts(p), 0, 'the HTTP liveness probe still passes: no restart');
});
