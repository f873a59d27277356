// Service discovery's costs, at a mesh of 1,000 Services (three meshed endpoints each):
// what one render costs splice (it runs in the webhook's process, so a render is time the
// event loop is not answering reviews), how large the answers are, and what the Services
// cost each proxy, measured on the real Envoy as the memory it allocates with none and
// with all of them (the same run: a difference, not an absolute).
//
// The answers come from splice's own DiscoverySnapshot over plain HTTP on loopback: the
// TLS of the production server is not what is measured here.

import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { renderDiscovery, type DiscoveryInput } from '../../src/discovery/resources.js';
import { DiscoverySnapshot } from '../../src/discovery/snapshot.js';
import { parseMeshCa } from '../../src/identity/ca.js';
import { generateMeshRoot, issueIdentity } from '../../src/identity/issue.js';
import { renderSdsFiles } from '../../src/inject/bootstrap.js';
import { ENVOY_VERSION, envoyBinary } from '../../test/dataplane/envoy.js';
import type { Figure } from '../lib/figure.js';
import { size } from '../lib/options.js';
import { median } from '../lib/stats.js';

const SERVICES = 1000;
const ENDPOINTS = 3;

function cluster(services: number, identityDir: string): DiscoveryInput {
  const input = { services: [] as DiscoveryInput['services'][number][], endpointSlices: [] as DiscoveryInput['endpointSlices'][number][], meshedPods: new Map<string, { serviceAccount: string }>() };
  for (let i = 0; i < services; i++) {
    const namespace = `ns-${i % 50}`;
    input.services.push({ metadata: { namespace, name: `svc-${i}` }, spec: { type: 'ClusterIP', clusterIP: `10.96.${i >> 8}.${i & 255}`, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } });
    const endpoints = [];
    for (let j = 0; j < ENDPOINTS; j++) {
      const n = i * ENDPOINTS + j;
      const pod = `svc-${i}-${j}`;
      endpoints.push({ addresses: [`10.244.${(n >> 8) & 255}.${n & 255}`], conditions: { ready: true }, targetRef: { kind: 'Pod', name: pod, namespace } });
      input.meshedPods.set(`${namespace}/${pod}`, { serviceAccount: `sa-${i}` });
    }
    input.endpointSlices.push({ metadata: { namespace, labels: { 'kubernetes.io/service-name': `svc-${i}` } }, addressType: 'IPv4', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }], endpoints });
  }
  return { ...input, trustDomain: 'cluster.local', identityDir, maxConnections: 100_000 };
}

function serve(snapshot: DiscoverySnapshot): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const a = snapshot.answer(req.url?.includes('listeners') ? 'listeners' : 'clusters', JSON.parse(body || '{}'));
      res.writeHead(a.status, { 'content-type': 'application/json' });
      res.end(a.body);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port })));
}

async function envoyAllocated(dir: string, services: number, identityDir: string): Promise<{ bytes: number; listeners: number }> {
  const snapshot = new DiscoverySnapshot();
  snapshot.update(renderDiscovery(cluster(services, identityDir)));
  const { server, port } = await serve(snapshot);
  const adminPort = 19_100 + services % 97;
  const source = { resource_api_version: 'V3', api_config_source: { api_type: 'REST', transport_api_version: 'V3', cluster_names: ['discovery'], refresh_delay: '3s', request_timeout: '10s' } };
  const bootstrap = {
    node: { id: 'bench', cluster: 'bench' },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: adminPort } } },
    dynamic_resources: { cds_config: source, lds_config: source },
    static_resources: { clusters: [{ name: 'discovery', type: 'STATIC', connect_timeout: '1s', load_assignment: { cluster_name: 'discovery', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] } }] },
  };
  const config = join(dir, `bootstrap-${services}.json`);
  await writeFile(config, JSON.stringify(bootstrap));
  const envoy = spawn(envoyBinary(), ['-c', config, '--concurrency', '2', '--disable-hot-restart', '--base-id', String(7000 + services), '--log-level', 'error'], { stdio: 'ignore' });
  const admin = async (path: string) => (await fetch(`http://127.0.0.1:${adminPort}${path}`)).text();
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const listing = await admin('/listeners').catch(() => '');
      const ready = await admin('/ready').catch(() => '');
      const count = listing.split('\n').filter((l) => l.trim() !== '').length;
      if (ready.trim() === 'LIVE' && count === services) {
        // A moment for what loading freed to be returned, then the allocator's own count.
        await new Promise((r) => setTimeout(r, 2000));
        const memory = JSON.parse(await admin('/memory')) as { allocated: string };
        return { bytes: Number(memory.allocated), listeners: count };
      }
      if (Date.now() > deadline) throw new Error(`Envoy did not load ${services} Services within 60 s (has ${count} listeners)`);
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    envoy.kill('SIGKILL');
    server.close();
  }
}

export async function discovery(): Promise<Figure[]> {
  const dir = await mkdtemp(join(tmpdir(), 'splice-bench-discovery-'));
  try {
    // The identity the clusters' TLS names must exist for Envoy to load them.
    const root = await generateMeshRoot('cluster.local');
    const ca = parseMeshCa({ 'tls.crt': root.cert, 'tls.key': root.key, 'ca.crt': root.cert }, 'bench CA');
    const id = await issueIdentity(ca, { trustDomain: 'cluster.local', namespace: 'bench', serviceAccount: 'bench' }, 3600_000);
    const identityDir = join(dir, 'identity');
    await mkdir(identityDir);
    await writeFile(join(identityDir, 'tls.crt'), id.cert);
    await writeFile(join(identityDir, 'tls.key'), id.key);
    await writeFile(join(identityDir, 'ca.crt'), id.trustBundle);
    for (const [name, body] of Object.entries(renderSdsFiles({ identityDir }))) await writeFile(join(identityDir, name), JSON.stringify(body));

    const input = cluster(SERVICES, identityDir);
    const times: number[] = [];
    let bytes = { listeners: 0, clusters: 0 };
    for (let i = 0; i < size(7, 2); i++) {
      const t = performance.now();
      const snapshot = new DiscoverySnapshot();
      snapshot.update(renderDiscovery(input));
      times.push(performance.now() - t);
      bytes = { listeners: snapshot.answer('listeners', {}).body?.length ?? 0, clusters: snapshot.answer('clusters', {}).body?.length ?? 0 };
    }
    const none = await envoyAllocated(dir, 0, identityDir);
    const all = await envoyAllocated(dir, SERVICES, identityDir);
    const perService = (all.bytes - none.bytes) / SERVICES;
    return [
      {
        section: 'discovery',
        name: `render and version ${SERVICES.toLocaleString('en-US')} Services`,
        value: Math.round(median(times.slice(1)) * 10) / 10,
        unit: 'ms',
        detail: `median of ${times.length - 1} after one warm-up, ${ENDPOINTS} meshed endpoints each, on splice's event loop; answers ${(bytes.listeners / 1e6).toFixed(2)} MB (listeners) and ${(bytes.clusters / 1e6).toFixed(2)} MB (clusters), 304 while unchanged`,
      },
      {
        section: 'discovery',
        name: 'proxy memory per Service with a meshed endpoint',
        value: Math.round(perService / 1024),
        unit: 'KiB',
        detail: `Envoy ${ENVOY_VERSION} allocated ${(none.bytes / 2 ** 20).toFixed(1)} MiB with no Services, ${(all.bytes / 2 ** 20).toFixed(1)} MiB with ${all.listeners.toLocaleString('en-US')}: a listener and a cluster (with its TLS context) each`,
      },
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
