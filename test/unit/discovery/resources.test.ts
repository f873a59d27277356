import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { renderDiscovery, type DiscoveryInput, type EndpointSliceObject, type ServiceObject } from '../../../src/discovery/resources.js';
import { DiscoverySnapshot, HOLD_MS, RETIRE_MS } from '../../../src/discovery/snapshot.js';
import type { JsonObject } from '../../../src/inject/types.js';

const service = (name: string, spec: ServiceObject['spec'], namespace = 'shop'): ServiceObject => ({ metadata: { namespace, name }, spec });
const slice = (svc: string, addressType: string, ports: EndpointSliceObject['ports'], endpoints: EndpointSliceObject['endpoints'], namespace = 'shop'): EndpointSliceObject => ({
  metadata: { namespace, labels: { 'kubernetes.io/service-name': svc } },
  addressType,
  ports,
  endpoints,
});
const podRef = (name: string, namespace = 'shop') => ({ kind: 'Pod', name, namespace });

function input(over: Partial<DiscoveryInput>): DiscoveryInput {
  return {
    services: [],
    endpointSlices: [],
    meshedPods: new Map([['shop/web-1', { serviceAccount: 'web' }], ['shop/web-2', { serviceAccount: 'web' }]]),
    trustDomain: 'cluster.local',
    identityDir: '/var/run/splice/identity',
    maxConnections: 100_000,
    ...over,
  };
}

const web = service('web', { type: 'ClusterIP', clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] });
const webSlice = slice('web', 'IPv4', [{ name: 'http', port: 8080, protocol: 'TCP' }], [
  { addresses: ['10.244.0.5'], conditions: { ready: true }, targetRef: podRef('web-1') },
  { addresses: ['10.244.0.6'], conditions: {}, targetRef: podRef('web-2') },
  { addresses: ['10.244.0.7'], conditions: { ready: true }, targetRef: podRef('legacy-1') },
  { addresses: ['10.244.0.8'], conditions: { ready: false }, targetRef: podRef('web-3') },
]);

type Lb = { endpoint: { address: { socket_address: { address: string; port_value: number } } }; metadata?: { filter_metadata: Record<string, { mtls: string }> } };
const lbEndpoints = (cluster: JsonObject) => (cluster.load_assignment as { endpoints: Array<{ lb_endpoints: Lb[] }> }).endpoints[0]?.lb_endpoints ?? [];
const addr = (e: Lb) => `${e.endpoint.address.socket_address.address}:${e.endpoint.address.socket_address.port_value}`;

describe('renderDiscovery', () => {
  test('a Service with meshed endpoints: one unbound listener on its ClusterIP and port, and a cluster of its ready endpoints', () => {
    const out = renderDiscovery(input({ services: [web], endpointSlices: [webSlice] }));
    assert.equal(out.listeners.length, 1);
    const listener = out.listeners[0] as JsonObject;
    assert.deepEqual(listener.address, { socket_address: { address: '10.96.0.10', port_value: 80 } });
    assert.equal(listener.bind_to_port, false);
    assert.equal(out.clusters.length, 1);
    const cluster = out.clusters[0] as JsonObject;
    assert.equal(cluster.name, 'svc|shop|web|80');
    assert.match(JSON.stringify(listener), /"cluster":"svc\|shop\|web\|80"/);
    // Ready (or unset) endpoints only; meshed ones at their mTLS port, the other at its target port.
    assert.deepEqual(lbEndpoints(cluster).map(addr), ['10.244.0.5:15008', '10.244.0.6:15008', '10.244.0.7:8080']);
  });

  test('meshed endpoints get mTLS that names the target port and accepts only their service account\'s identity; the others none', () => {
    const cluster = renderDiscovery(input({ services: [web], endpointSlices: [webSlice] })).clusters[0] as JsonObject;
    const matches = cluster.transport_socket_matches as Array<{ name: string; match: { mtls: string }; transport_socket: { typed_config: { sni: string; common_tls_context: JsonObject } } }>;
    assert.equal(matches.length, 1, 'one identity and one port: one socket');
    const socket = matches[0];
    assert.ok(socket);
    assert.equal(socket.transport_socket.typed_config.sni, '8080');
    assert.match(JSON.stringify(socket.transport_socket.typed_config.common_tls_context), /"matcher":\{"exact":"spiffe:\/\/cluster.local\/ns\/shop\/sa\/web"\}/);
    const [m1, m2, plain] = lbEndpoints(cluster);
    assert.equal(m1?.metadata?.filter_metadata['envoy.transport_socket_match']?.mtls, socket.name);
    assert.equal(m2?.metadata?.filter_metadata['envoy.transport_socket_match']?.mtls, socket.name);
    assert.equal(plain?.metadata, undefined, 'the unmeshed endpoint matches no TLS socket');
    assert.equal(cluster.transport_socket, undefined, 'the default socket is plaintext');
  });

  test('a Service whose meshed endpoints are all not ready keeps its listener, with an empty cluster (a restart must not cut its connections)', () => {
    const restarting = slice('web', 'IPv4', [{ name: 'http', port: 8080 }], [{ addresses: ['10.244.0.5'], conditions: { ready: false }, targetRef: podRef('web-1') }]);
    const out = renderDiscovery(input({ services: [web], endpointSlices: [restarting] }));
    assert.equal(out.listeners.length, 1);
    assert.deepEqual(lbEndpoints(out.clusters[0] as JsonObject), []);
  });

  test('no listener where splice would change nothing or could not keep the Service\'s meaning', () => {
    const unmeshed = slice('db', 'IPv4', [{ name: '', port: 5432 }], [{ addresses: ['10.244.1.1'], targetRef: podRef('db-0') }]);
    const db = service('db', { clusterIP: '10.96.0.20', ports: [{ port: 5432 }] });
    const headless = service('web-headless', { clusterIP: 'None', ports: [{ name: 'http', port: 80 }] });
    const local = service('web-local', { clusterIP: '10.96.0.30', internalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80 }] });
    const udp = service('web-udp', { clusterIP: '10.96.0.40', ports: [{ name: 'http', port: 80, protocol: 'UDP' }] });
    const external = service('web-ext', { type: 'ExternalName' });
    const slices = ['web-headless', 'web-local', 'web-udp'].map((s) => ({ ...webSlice, metadata: { namespace: 'shop', labels: { 'kubernetes.io/service-name': s } } }));
    const out = renderDiscovery(input({ services: [db, headless, local, udp, external], endpointSlices: [unmeshed, ...slices] }));
    assert.deepEqual(out, { listeners: [], clusters: [] });
  });

  test('ports match by name; a dual-stack Service gets a listener per family with that family\'s endpoints', () => {
    const dual = service('web', { clusterIPs: ['10.96.0.10', 'fd00::10'], ports: [{ name: 'http', port: 80 }, { name: 'admin', port: 81 }] });
    const v4 = slice('web', 'IPv4', [{ name: 'http', port: 8080 }, { name: 'admin', port: 9000 }], [{ addresses: ['10.244.0.5'], targetRef: podRef('web-1') }]);
    const v6 = slice('web', 'IPv6', [{ name: 'http', port: 8080 }], [{ addresses: ['fd00:244::5'], targetRef: podRef('web-1') }]);
    const out = renderDiscovery(input({ services: [dual], endpointSlices: [v6, v4] }));
    assert.deepEqual(out.listeners.map((l) => l.name), ['svc|[fd00::10]:80', 'svc|10.96.0.10:80', 'svc|10.96.0.10:81']);
    const byName = new Map(out.clusters.map((c) => [c.name, c]));
    assert.deepEqual(lbEndpoints(byName.get('svc|shop|web|80') as JsonObject).map(addr), ['10.244.0.5:15008']);
    assert.deepEqual(lbEndpoints(byName.get('svc|shop|web|80|v6') as JsonObject).map(addr), ['fd00:244::5:15008']);
    const admin = byName.get('svc|shop|web|81') as JsonObject;
    assert.equal((admin.transport_socket_matches as Array<{ transport_socket: { typed_config: { sni: string } } }>)[0]?.transport_socket.typed_config.sni, '9000');
  });

  test('ClientIP session affinity keeps a client on one endpoint: a hash of its address', () => {
    const sticky = service('web', { clusterIP: '10.96.0.10', sessionAffinity: 'ClientIP', ports: [{ name: 'http', port: 80 }] });
    const out = renderDiscovery(input({ services: [sticky], endpointSlices: [webSlice] }));
    assert.equal(out.clusters[0]?.lb_policy, 'RING_HASH');
    assert.match(JSON.stringify(out.listeners[0]), /"hash_policy":\[\{"source_ip":\{\}\}\]/);
  });

  test('the same objects in another order give the same resources', () => {
    const other = service('api', { clusterIP: '10.96.0.11', ports: [{ name: 'http', port: 80 }] });
    const otherSlice = { ...webSlice, metadata: { namespace: 'shop', labels: { 'kubernetes.io/service-name': 'api' } } };
    const a = renderDiscovery(input({ services: [web, other], endpointSlices: [webSlice, otherSlice] }));
    const b = renderDiscovery(input({ services: [other, web], endpointSlices: [otherSlice, { ...webSlice, endpoints: [...(webSlice.endpoints ?? [])].reverse() }] }));
    assert.deepEqual(a, b);
  });
});

describe('DiscoverySnapshot', () => {
  const resources = renderDiscovery(input({ services: [web], endpointSlices: [webSlice] }));

  test('answers a DiscoveryResponse with a version, then 304 to a proxy that has that version', () => {
    const snap = new DiscoverySnapshot();
    snap.update(resources, 0);
    const first = snap.answer('clusters', { version_info: '', type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster' }, 0);
    assert.equal(first.status, 200);
    const body = JSON.parse(first.body ?? '') as { version_info: string; type_url: string; resources: JsonObject[] };
    assert.equal(body.version_info, first.version);
    assert.equal(body.resources[0]?.name, 'svc|shop|web|80');
    assert.equal(snap.answer('clusters', { version_info: first.version }, 0).status, 304);
    assert.equal(snap.answer('listeners', { version_info: first.version }, 0).status, 200, 'each type has its own version');
  });

  test('a new Service\'s listener is served HOLD_MS after its cluster, so no proxy has the listener without the cluster; the first answers hold nothing', () => {
    const snap = new DiscoverySnapshot();
    snap.update(resources, 0);
    const listeners = (at: number) => (JSON.parse(snap.answer('listeners', {}, at).body ?? '') as { resources: JsonObject[] }).resources.map((l) => l.name);
    const clusters = (at: number) => (JSON.parse(snap.answer('clusters', {}, at).body ?? '') as { resources: JsonObject[] }).resources.map((c) => c.name);
    assert.deepEqual(listeners(0), ['svc|10.96.0.10:80'], 'first answers: nothing held');
    const api = service('api', { clusterIP: '10.96.0.11', ports: [{ name: 'http', port: 80 }] });
    const apiSlice = { ...webSlice, metadata: { namespace: 'shop', labels: { 'kubernetes.io/service-name': 'api' } } };
    snap.update(renderDiscovery(input({ services: [web, api], endpointSlices: [webSlice, apiSlice] })), 1_000);
    assert.deepEqual(clusters(1_000), ['svc|shop|api|80', 'svc|shop|web|80'], 'the cluster at once');
    assert.deepEqual(listeners(1_000 + HOLD_MS - 1), ['svc|10.96.0.10:80'], 'its listener not yet');
    assert.deepEqual(listeners(1_000 + HOLD_MS), ['svc|10.96.0.10:80', 'svc|10.96.0.11:80']);
  });

  test('a malformed request gets 400 naming the field and value', () => {
    const snap = new DiscoverySnapshot();
    assert.deepEqual(snap.answer('listeners', [], 0).status, 400);
    const wrongType = snap.answer('listeners', { type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster' }, 0);
    assert.equal(wrongType.status, 400);
    assert.match(wrongType.body ?? '', /type_url .*envoy.config.cluster.v3.Cluster.* is not served here/);
    assert.match(snap.answer('listeners', { version_info: 7 }, 0).body ?? '', /version_info must be a string \(got 7\)/);
  });

  test('a cluster that leaves is still served for RETIRE_MS, its listener is gone at once', () => {
    const snap = new DiscoverySnapshot();
    snap.update(resources, 0);
    assert.equal(snap.update({ listeners: [], clusters: [] }, 1_000), true);
    const during = JSON.parse(snap.answer('clusters', {}, 1_000 + RETIRE_MS - 1).body ?? '') as { resources: JsonObject[] };
    assert.equal(during.resources.length, 1);
    const listeners = JSON.parse(snap.answer('listeners', {}, 1_000).body ?? '') as { resources: JsonObject[] };
    assert.equal(listeners.resources.length, 0);
    const after = JSON.parse(snap.answer('clusters', {}, 1_000 + RETIRE_MS).body ?? '') as { resources: JsonObject[] };
    assert.equal(after.resources.length, 0);
  });

  test('an update that changes nothing keeps the versions', () => {
    const snap = new DiscoverySnapshot();
    assert.equal(snap.update(resources, 0), true);
    const before = snap.versions(0);
    assert.equal(snap.update(renderDiscovery(input({ services: [web], endpointSlices: [webSlice] })), 5), false);
    assert.deepEqual(snap.versions(5), before);
  });
});
