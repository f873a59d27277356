// Scenario 2: two meshed Deployments behind Services. A reaches B through both proxies,
// at B's address and through B's Service (by its ClusterIP and by its DNS name): either
// way it is mTLS on B's port 15008 (B's proxy logs A's SPIFFE ID, and a capture on the
// node sees a TLS handshake offering the mesh's ALPN and no byte of the request or the
// answer in the clear). Through the Service, A's proxy knows B from splice's service
// discovery, as the running splice replicas tell it. A pod outside the mesh reaches B in
// plaintext, through B's Service too.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { apply, getJson, waitFor } from '../e2e/lib/kubectl.js';
import { call, create, deleteNamespace, deployment, freshNamespace, logs, pods, rollout, service, sleep, spawnInNode } from './lib/node.js';

const NS = 'node-mesh';
const OUTSIDE = 'node-outside';
let a: string;
let b: { name: string; ip: string };
let c: { name: string; ip: string };
let serviceIp: string;

before(async () => {
  await freshNamespace(NS, { 'splice.dev/inject': 'enabled' });
  await freshNamespace(OUTSIDE);
  for (const sa of ['a', 'b']) assert.equal(apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: NS } }).code, 0);
  create(deployment(NS, 'a', { serviceAccount: 'a' }), service(NS, 'a'), deployment(NS, 'b', { serviceAccount: 'b' }), service(NS, 'b'), deployment(OUTSIDE, 'c'));
  for (const [ns, d] of [[NS, 'a'], [NS, 'b'], [OUTSIDE, 'c']] as const) rollout(ns, d);
  a = pods(NS, 'app=a')[0]!.metadata.name;
  const bp = pods(NS, 'app=b')[0]!;
  b = { name: bp.metadata.name, ip: bp.status.podIP! };
  const cp = pods(OUTSIDE, 'app=c')[0]!;
  c = { name: cp.metadata.name, ip: cp.status.podIP! };
  serviceIp = getJson<{ spec: { clusterIP: string } }>(['-n', NS, 'get', 'service', 'b']).spec.clusterIP;
});
after(() => {
  deleteNamespace(NS);
  deleteNamespace(OUTSIDE);
});

interface AccessLine {
  direction: string;
  filter_chain: string;
  upstream_host: string;
  peer_identity: string | null;
  downstream_remote_address: string;
  original_destination: string;
}
/** The access log lines of the pod's proxy that `match`, once there is one (Envoy writes a line when a connection closes). */
async function accessLines(podName: string, match: (l: AccessLine) => boolean): Promise<AccessLine[]> {
  return waitFor(`an access log line of ${podName}'s proxy`, () => {
    const lines = logs(NS, podName, 'splice-proxy')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as AccessLine)
      .filter(match);
    return lines.length > 0 ? lines : undefined;
  }, 15_000);
}

/** What crossed the node (every interface) to or from B while `act` ran, as pcap bytes. */
async function captured<T>(name: string, act: () => T): Promise<{ result: T; bytes: Buffer; said: string }> {
  const pcap = join(process.env.SPLICE_NODE_DIR ?? '/tmp', `${name}.pcap`);
  // On every interface of the node: frames between two pods cross the bridge's ports
  // (the pods' veths), not the bridge device itself.
  const capture = spawnInNode(['tcpdump', '-i', 'any', '--immediate-mode', '-U', '-s', '0', '-w', pcap, 'host', b.ip, 'and', 'tcp']);
  let said = '';
  capture.stderr?.on('data', (d) => (said += d));
  const stopped = new Promise((r) => capture.on('close', r));
  let result: T;
  try {
    for (let i = 0; i < 100 && !said.includes('listening on'); i++) await sleep(100);
    assert.match(said, /listening on any/);
    result = act();
    await sleep(500);
  } finally {
    // Never left running: it would hold the node's namespaces past its stop.
    capture.kill('SIGINT');
    await stopped;
  }
  return { result, bytes: readFileSync(pcap), said };
}

function onlyTls(bytes: Buffer, said: string, marker: string): void {
  assert.ok(bytes.length > 500, `the capture is empty (${bytes.length} bytes; tcpdump said: ${said.trim()})`);
  assert.ok(bytes.includes('splice-mtls'), 'no TLS ClientHello offering the splice-mtls ALPN on the node');
  assert.ok(!bytes.includes(marker), 'the request crossed the node in plaintext');
  assert.ok(!bytes.includes('hello from'), 'the answer crossed the node in plaintext');
}

test('2. A → B over mTLS through both proxies: B logs A\'s SPIFFE ID, the bridge carries only TLS with the mesh ALPN', async () => {
  const marker = `marker-${Date.now()}`;
  const { result: answers, bytes, said } = await captured('mesh', () => call(NS, a, `http://${b.ip}:8080/?${marker}`));
  assert.deepEqual(answers, [`200 hello from ${b.name}`]);
  onlyTls(bytes, said, marker);

  const inbound = await accessLines(b.name, (l) => l.direction === 'inbound' && l.filter_chain === 'inbound-mtls');
  assert.ok(inbound.every((l) => l.peer_identity === `spiffe://cluster.local/ns/${NS}/sa/a`), JSON.stringify(inbound));
  const outbound = await accessLines(a, (l) => l.direction === 'outbound' && l.original_destination === `${b.ip}:8080`);
  assert.equal(outbound.at(-1)?.peer_identity, `spiffe://cluster.local/ns/${NS}/sa/b`, 'A did not check B\'s identity');
});

test('2. A → B through B\'s Service, by address and by its name in cluster DNS: mTLS to B\'s proxy as B\'s identity, nothing in the clear', async () => {
  // A's proxy learns of the Service from splice within two polls of B being ready.
  await waitFor('A\'s proxy to have the Service\'s listener from discovery', () => {
    const listing = call(NS, a, 'http://127.0.0.1:15000/listeners').join('\n');
    return listing.includes(`${serviceIp}:80`) ? true : undefined;
  }, 20_000);
  const fromA = (l: AccessLine) => l.direction === 'inbound' && l.filter_chain === 'inbound-mtls' && l.peer_identity === `spiffe://cluster.local/ns/${NS}/sa/a`;
  const before = (await accessLines(b.name, fromA)).length;
  const marker = `via-service-${Date.now()}`;
  const { result: answers, bytes, said } = await captured('service', () => call(NS, a, `http://${serviceIp}/?${marker}`, `http://b.${NS}.svc.cluster.local/?${marker}`));
  assert.deepEqual(answers, [`200 hello from ${b.name}`, `200 hello from ${b.name}`]);
  onlyTls(bytes, said, marker);
  // Envoy flushes its access log once a second: the second call's line may not be there yet.
  const toService = (l: AccessLine) => l.direction === 'outbound' && l.original_destination === `${serviceIp}:80`;
  await waitFor('A\'s proxy to log both calls to the Service', async () => ((await accessLines(a, toService)).length >= 2 ? true : undefined), 15_000).catch(() => undefined);
  const out = await accessLines(a, toService);
  assert.ok(out.length >= 2, JSON.stringify(out));
  for (const l of out.slice(-2)) {
    assert.equal(l.filter_chain, 'outbound-service', JSON.stringify(l));
    assert.equal(l.upstream_host, `${b.ip}:15008`, JSON.stringify(l));
    assert.equal(l.peer_identity, `spiffe://cluster.local/ns/${NS}/sa/b`, JSON.stringify(l));
  }
  await waitFor('B\'s proxy to log both calls as mTLS from A', async () => ((await accessLines(b.name, fromA)).length >= before + 2 ? true : undefined), 15_000);
});

test('2. a pod outside the mesh reaches B in plaintext, at its address and through its Service', async () => {
  assert.deepEqual(call(OUTSIDE, c.name, `http://${b.ip}:8080/`, `http://${serviceIp}/`), [`200 hello from ${b.name}`, `200 hello from ${b.name}`]);
  const fromC = await accessLines(b.name, (l) => l.direction === 'inbound' && l.downstream_remote_address.startsWith(`${c.ip}:`));
  assert.ok(fromC.every((l) => l.filter_chain === 'inbound-passthrough'), JSON.stringify(fromC));
  assert.ok(fromC.every((l) => l.peer_identity === null), JSON.stringify(fromC));
});
