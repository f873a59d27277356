// Scenario 5: identity rotation end to end. With certificateLifetimeSeconds: 60 splice
// renews every workload certificate after 40 s; the kubelet delivers each new Secret into
// the running pod's identity volume, and Envoy serves it without a restart, while a
// meshed client keeps calling the pod over mTLS: at least three renewals seen in the
// certificate Envoy serves, and not one failed request.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { spawn } from 'node:child_process';
import { apply, kubectlBin, ok } from '../e2e/lib/kubectl.js';
import { REPO } from '../e2e/lib/splice.js';
import { SYSTEM_NAMESPACE, call, create, deleteNamespace, deployment, freshNamespace, pods, restarts, rollout, sleep } from './lib/node.js';

const NS = 'node-rotation';
const LIFETIME_S = 60;
const RENEWALS = 3;
const OVERLAY_CONFIG = readFileSync(join(REPO, 'test/node/overlay/config.yaml'), 'utf8');

/** Installs this config into splice's ConfigMap and restarts splice to read it. */
function configure(config: string): void {
  const r = apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'splice', namespace: SYSTEM_NAMESPACE, labels: { 'app.kubernetes.io/name': 'splice' } }, data: { 'config.yaml': config } });
  assert.equal(r.code, 0, r.stderr);
  ok(['-n', SYSTEM_NAMESPACE, 'rollout', 'restart', 'deploy/splice']);
  rollout(SYSTEM_NAMESPACE, 'splice', 180);
}

before(async () => {
  configure(`${OVERLAY_CONFIG}identity:\n  certificateLifetimeSeconds: ${LIFETIME_S}\n`);
  await freshNamespace(NS, { 'splice.dev/inject': 'enabled' });
  for (const sa of ['client', 'server']) assert.equal(apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: NS } }).code, 0);
  create(deployment(NS, 'server', { serviceAccount: 'server' }), deployment(NS, 'client', { serviceAccount: 'client' }));
  rollout(NS, 'server');
  rollout(NS, 'client');
});
after(() => {
  deleteNamespace(NS);
  // run.sh keeps the short lifetime for the other scenarios running beside this one.
  if (process.env.SPLICE_NODE_RESTORE_CONFIG !== '0') configure(OVERLAY_CONFIG);
});

/** The serial number of the workload certificate the pod's Envoy serves now (its admin /certs). */
function servedSerial(podName: string): string {
  const line = call(NS, podName, 'http://127.0.0.1:15000/certs').join('\n');
  const body = JSON.parse(line.replace(/^200 /, '')) as { certificates: Array<{ cert_chain: Array<{ serial_number: string; subject_alt_names?: Array<{ uri?: string }> }> }> };
  const leaf = body.certificates.flatMap((c) => c.cert_chain).find((c) => c.subject_alt_names?.some((s) => s.uri?.startsWith('spiffe://')));
  assert.ok(leaf, `no workload certificate in ${podName}'s Envoy: ${line}`);
  return leaf.serial_number;
}

test(`5. lifetime ${LIFETIME_S} s: ${RENEWALS} renewals reach the running proxy, with no restart and no failed request`, async (t) => {
  const server = pods(NS, 'app=server')[0]!;
  const client = pods(NS, 'app=client')[0]!;
  // Enough for RENEWALS renewals at 2/3 of the lifetime, plus the kubelet's delivery.
  const seconds = Math.ceil(LIFETIME_S * (2 / 3) * RENEWALS + 50);
  const load = new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = spawn(kubectlBin(), ['-n', NS, 'exec', client.metadata.name, '-c', 'app', '--', 'node', '/app/app.js', 'load', `http://${server.status.podIP}:8080/`, String(seconds), '250'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => resolve({ code, out }));
  });
  const serials = { server: [servedSerial(server.metadata.name)], client: [servedSerial(client.metadata.name)] };
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    await sleep(5000);
    for (const [role, p] of [['server', server], ['client', client]] as const) {
      const s = servedSerial(p.metadata.name);
      if (s !== serials[role].at(-1)) serials[role].push(s);
    }
  }
  const result = await load;
  assert.equal(result.code, 0, result.out);
  const summary = JSON.parse(result.out.trim().split('\n').at(-1)!) as { ok: number; failed: number; errors: string[] };
  assert.equal(summary.failed, 0, `failed requests during rotation: ${summary.errors.join('; ')}`);
  assert.ok(summary.ok > seconds * 2, `only ${summary.ok} requests in ${seconds} s`);
  for (const role of ['server', 'client'] as const) {
    assert.ok(serials[role].length >= RENEWALS + 1, `${role}'s Envoy served ${serials[role].length - 1} renewed certificates, not ${RENEWALS}: ${serials[role].join(', ')}`);
  }
  t.diagnostic(`${summary.ok} requests in ${seconds} s, ${summary.failed} failed; renewed certificates served: server ${serials.server.length - 1}, client ${serials.client.length - 1}`);
  for (const p of [server, client]) assert.equal(restarts(pods(NS, `app=${p.metadata.labels?.app}`)[0]!), 0, `${p.metadata.name} restarted`);
});
