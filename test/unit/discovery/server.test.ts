// The discovery server over real TLS on loopback: only a client with a mesh certificate
// is answered, and it gets what Envoy's REST fetcher expects (200 with a body, 304).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseMeshCa, type MeshCa } from '../../../src/identity/ca.js';
import { generateMeshRoot, issueIdentity, type IssuedIdentity } from '../../../src/identity/issue.js';
import { renderDiscovery } from '../../../src/discovery/resources.js';
import { startDiscoveryServer, type DiscoveryServer } from '../../../src/discovery/server.js';
import { DiscoverySnapshot } from '../../../src/discovery/snapshot.js';
import { createLogger } from '../../../src/webhook/logger.js';
import { postJsonAs } from '../../support/tls.js';

async function meshCa(): Promise<MeshCa> {
  const root = await generateMeshRoot('cluster.local');
  return parseMeshCa({ 'tls.crt': root.cert, 'tls.key': root.key, 'ca.crt': root.cert }, 'test root');
}

const post = (url: string, path: string, body: unknown, client: { cert?: string; key?: string; ca: string }) => postJsonAs(`${url}${path}`, body, client);

describe('discovery server', () => {
  let ca: MeshCa;
  let server: DiscoveryServer;
  let client: IssuedIdentity;
  const snapshot = new DiscoverySnapshot();

  before(async () => {
    ca = await meshCa();
    const own = await issueIdentity(ca, { trustDomain: 'cluster.local', namespace: 'splice-system', serviceAccount: 'splice' }, 3600_000);
    client = await issueIdentity(ca, { trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'web' }, 3600_000);
    snapshot.update(
      renderDiscovery({
        services: [{ metadata: { namespace: 'shop', name: 'web' }, spec: { clusterIP: '10.96.0.10', ports: [{ port: 80 }] } }],
        endpointSlices: [{ metadata: { namespace: 'shop', labels: { 'kubernetes.io/service-name': 'web' } }, addressType: 'IPv4', ports: [{ port: 8080 }], endpoints: [{ addresses: ['10.244.0.5'], targetRef: { kind: 'Pod', name: 'web-1', namespace: 'shop' } }] }],
        meshedPods: new Map([['shop/web-1', { serviceAccount: 'web' }]]),
        trustDomain: 'cluster.local',
        identityDir: '/var/run/splice/identity',
        maxConnections: 1000,
      }),
    );
    server = await startDiscoveryServer({ host: '127.0.0.1', port: 0, tls: { cert: own.cert, key: own.key, trustBundle: own.trustBundle }, snapshot, trustDomain: 'cluster.local', logger: createLogger('silent') });
  });
  after(() => server.close());

  test('a mesh proxy gets the listeners and clusters, then 304 for the version it has', async () => {
    const as = { cert: client.cert, key: client.key, ca: client.trustBundle };
    const clusters = await post(server.url, '/v3/discovery:clusters', { node: { id: 'web-1' }, type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster' }, as);
    assert.equal(clusters.status, 200);
    const parsed = JSON.parse(clusters.body) as { version_info: string; resources: Array<{ name: string }> };
    assert.deepEqual(parsed.resources.map((r) => r.name), ['svc|shop|web|80']);
    const again = await post(server.url, '/v3/discovery:clusters', { version_info: parsed.version_info }, as);
    assert.deepEqual(again, { status: 304, body: '' });
    const listeners = await post(server.url, '/v3/discovery:listeners', {}, as);
    assert.equal(listeners.status, 200);
    assert.match(listeners.body, /"bind_to_port":false/);
  });

  test('a client without a mesh certificate, or with another CA\'s, is refused in the handshake', async () => {
    await assert.rejects(post(server.url, '/v3/discovery:clusters', {}, { ca: client.trustBundle }));
    const stranger = await issueIdentity(await meshCa(), { trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'web' }, 3600_000);
    await assert.rejects(post(server.url, '/v3/discovery:clusters', {}, { cert: stranger.cert, key: stranger.key, ca: client.trustBundle }));
  });

  test('a certificate of the same roots but not of the mesh\'s trust domain is refused with 403', async () => {
    const other = await issueIdentity(ca, { trustDomain: 'partner.example', namespace: 'shop', serviceAccount: 'web' }, 3600_000);
    const answer = await post(server.url, '/v3/discovery:clusters', {}, { cert: other.cert, key: other.key, ca: client.trustBundle });
    assert.equal(answer.status, 403);
    assert.equal((JSON.parse(answer.body) as { message: string }).message, 'the client certificate names no SPIFFE ID of spiffe://cluster.local/ (got ["spiffe://partner.example/ns/shop/sa/web"])');
  });

  test('a request that is not a DiscoveryRequest gets 400 with the reason', async () => {
    const answer = await post(server.url, '/v3/discovery:listeners', { version_info: 3 }, { cert: client.cert, key: client.key, ca: client.trustBundle });
    assert.equal(answer.status, 400);
    assert.match(answer.body, /version_info must be a string/);
  });
});
