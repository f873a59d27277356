// Scenario 18: service discovery against the real API server. splice serve runs as the
// splice ServiceAccount (manifests/ RBAC), watches Services, EndpointSlices and injected
// pods, and answers a mesh proxy's REST xDS requests over mTLS with a certificate of the
// mesh CA it reads from splice-ca. No kubelet here: the EndpointSlice is written by the
// test, as the endpoint slice controller would for a running pod.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseMeshCa } from '../../src/identity/ca.js';
import { issueIdentity, type IssuedIdentity } from '../../src/identity/issue.js';
import { apply, getJson, kubectl, ok, waitFor } from './lib/kubectl.js';
import { decode, secret } from './lib/identity.js';
import { namespaceManifest, podManifest, isInjected, type PodJson } from './lib/objects.js';
import { SYSTEM_NAMESPACE, installManifests, startSplice, type SpliceProcess } from './lib/splice.js';
import { postJsonAs } from '../support/tls.js';

const NS = 'e2e-discovery';
const PORT = 19012;
let splice: SpliceProcess;
let client: IssuedIdentity;
let clusterIP = '';

const ask = (kind: 'listeners' | 'clusters', body: unknown, as: { cert?: string; key?: string; ca: string }) =>
  postJsonAs(`https://127.0.0.1:${PORT}/v3/discovery:${kind}`, body, as);

const asClient = () => ({ cert: client.cert, key: client.key, ca: client.trustBundle });
type Resource = { name: string; address?: { socket_address: { address: string; port_value: number } }; load_assignment?: { endpoints: Array<{ lb_endpoints: Array<{ endpoint: { address: { socket_address: { address: string; port_value: number } } } }> }> } };
async function resources(kind: 'listeners' | 'clusters'): Promise<Resource[]> {
  const r = await ask(kind, {}, asClient());
  assert.equal(r.status, 200, r.body);
  return (JSON.parse(r.body) as { resources: Resource[] }).resources;
}

before(async () => {
  installManifests();
  kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=true'], { timeout: 120 });
  assert.equal(apply(namespaceManifest(NS, { 'splice.dev/inject': 'enabled' })).code, 0);
  assert.equal(apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'web', namespace: NS } }).code, 0);
  splice = await startSplice({ args: ['--discovery-port', String(PORT)] });
  // A mesh client's certificate, from the CA splice keeps (created by its leader).
  const ca = await waitFor('the mesh CA Secret', () => secret(SYSTEM_NAMESPACE, 'splice-ca'), 30_000);
  const meshCa = parseMeshCa({ 'tls.crt': decode(ca.data['tls.crt']), 'tls.key': decode(ca.data['tls.key']), 'ca.crt': decode(ca.data['ca.crt']) }, 'splice-ca');
  client = await issueIdentity(meshCa, { trustDomain: 'cluster.local', namespace: 'e2e-client', serviceAccount: 'client' }, 3600_000);
  await waitFor('discovery to listen', async () => ((await ask('listeners', {}, asClient()).catch(() => undefined))?.status === 200 ? true : undefined), 30_000);
});
after(async () => {
  await splice?.stop();
  kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=false']);
});

describe('18. service discovery', () => {
  test('18a. a Service with an injected pod behind it: a listener on its ClusterIP, mTLS to the pod as its service account, plaintext to the other endpoint', async () => {
    const pod = { ...podManifest('web-1', NS), spec: { serviceAccountName: 'web', containers: [{ name: 'app', image: 'example.com/app:1', ports: [{ containerPort: 8080 }] }] } };
    assert.equal(apply(pod).code, 0);
    assert.ok(isInjected(getJson<PodJson>(['-n', NS, 'get', 'pod', 'web-1', '-o', 'json'])), 'the webhook injected web-1');
    // No selector: the slice below is the test's, not the endpoint slice controller's.
    assert.equal(apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: NS }, spec: { ports: [{ name: 'http', port: 80, targetPort: 8080 }] } }).code, 0);
    const slice = {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'web-1', namespace: NS, labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      endpoints: [
        { addresses: ['198.19.200.7'], conditions: { ready: true }, targetRef: { kind: 'Pod', name: 'web-1', namespace: NS } },
        { addresses: ['198.19.200.8'], conditions: { ready: true } },
      ],
    };
    assert.equal(apply(slice).code, 0);
    clusterIP = ok(['-n', NS, 'get', 'service', 'web', '-o', 'jsonpath={.spec.clusterIP}']).trim();
    const listener = await waitFor('the Service\'s listener', async () => (await resources('listeners')).find((l) => l.address?.socket_address.address === clusterIP), 15_000);
    assert.equal(listener.address?.socket_address.port_value, 80);
    const cluster = (await resources('clusters')).find((c) => c.name === `svc|${NS}|web|80`);
    assert.ok(cluster, 'the Service\'s cluster');
    const endpoints = cluster.load_assignment?.endpoints[0]?.lb_endpoints.map((e) => `${e.endpoint.address.socket_address.address}:${e.endpoint.address.socket_address.port_value}`);
    assert.deepEqual(endpoints, ['198.19.200.7:15008', '198.19.200.8:8080']);
    assert.match(JSON.stringify(cluster), new RegExp(`"exact":"spiffe://cluster.local/ns/${NS}/sa/web"`));
  });

  test('18b. unchanged state answers 304 to the version a proxy has; a deleted Service\'s listener goes at once', async () => {
    const first = await ask('listeners', {}, asClient());
    const version = (JSON.parse(first.body) as { version_info: string }).version_info;
    assert.equal((await ask('listeners', { version_info: version }, asClient())).status, 304);
    ok(['-n', NS, 'delete', 'service', 'web']);
    await waitFor('the listener to go', async () => ((await resources('listeners')).some((l) => l.address?.socket_address.address === clusterIP) ? undefined : true), 15_000);
  });

  test('18c. a client without a mesh certificate is refused in the handshake', async () => {
    await assert.rejects(ask('clusters', {}, { ca: client.trustBundle }));
  });
});
