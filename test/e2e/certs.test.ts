// Scenario 11: the webhook's certificate in a real cluster. Two replicas starting
// together agree on one CA; a deleted Secret is recreated on restart; a certificate
// rotated in the Secret (by another replica, or because it is near expiry) is served
// without a restart. The API server itself verifies splice against the caBundle: every
// step ends with a pod created through it.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { generateCA, generateServing, splitPem } from '../../src/tls/generate.js';
import { apply, getJson, kubectl, ok, waitFor } from './lib/kubectl.js';
import type { PodJson } from './lib/objects.js';
import { isInjected, namespaceManifest, podManifest } from './lib/objects.js';
import type { SpliceProcess } from './lib/splice.js';
import { installManifests, startSplice, SYSTEM_NAMESPACE } from './lib/splice.js';

const NS = 'e2e-certs';
const SECRET = 'splice-webhook-tls';
const running: SpliceProcess[] = [];

interface SecretJson {
  metadata: { resourceVersion: string };
  data: Record<string, string>;
}
interface WebhookConfigJson {
  webhooks: Array<{ name: string; clientConfig: { caBundle?: string } }>;
}

const decode = (b64: string | undefined) => Buffer.from(b64 ?? '', 'base64').toString('utf8');

function secret(): SecretJson | undefined {
  const r = kubectl(['-n', SYSTEM_NAMESPACE, 'get', 'secret', SECRET, '-o', 'json']);
  return r.code === 0 ? (JSON.parse(r.stdout) as SecretJson) : undefined;
}

function caBundles(): string[] {
  return getJson<WebhookConfigJson>(['get', 'mutatingwebhookconfiguration', 'splice']).webhooks.map((w) => decode(w.clientConfig.caBundle));
}

/** The certificate the server on `port` presents, checked against `ca` for 127.0.0.1. */
function served(port: number, ca: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, timeout: 5000 }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.end();
      if (cert) resolve(cert);
      else reject(new Error('no peer certificate'));
    });
    socket.on('error', reject);
    socket.on('timeout', () => socket.destroy(new Error('TLS handshake timed out')));
  });
}

let podCount = 0;
/** A pod through the API server: proves it verifies splice's certificate with the caBundle. */
function createPodThroughApiServer(): void {
  const name = `cert-check-${podCount++}`;
  const r = apply(podManifest(name, NS));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(isInjected(getJson<PodJson>(['-n', NS, 'get', 'pod', name])), true);
}

async function stopAll(): Promise<void> {
  await Promise.all(running.splice(0).map((p) => p.stop()));
}

function resetToEmpty(): void {
  kubectl(['-n', SYSTEM_NAMESPACE, 'delete', 'secret', SECRET, '--ignore-not-found']);
  const webhooks = getJson<WebhookConfigJson>(['get', 'mutatingwebhookconfiguration', 'splice']).webhooks;
  const ops = webhooks.flatMap((w, i) => (w.clientConfig.caBundle ? [{ op: 'remove', path: `/webhooks/${i}/clientConfig/caBundle` }] : []));
  if (ops.length > 0) ok(['patch', 'mutatingwebhookconfiguration', 'splice', '--type=json', '-p', JSON.stringify(ops)]);
}

before(() => {
  installManifests();
  ok(['apply', '-f', '-'], { input: JSON.stringify(namespaceManifest(NS, { 'splice.dev/inject': 'enabled' })) });
});
after(stopAll);

describe('11. the webhook certificate in a real cluster', () => {
  test('two replicas started together against an empty cluster end with one CA that verifies both', async () => {
    resetToEmpty();
    const [a, b] = await Promise.all([
      startSplice({ port: 19443, metricsPort: 19090 }),
      startSplice({ port: 19444, metricsPort: 19091 }),
    ]);
    running.push(a, b);
    const s = secret();
    assert.ok(s, 'the Secret exists');
    const cas = splitPem(decode(s.data['ca.crt']));
    assert.equal(cas.length, 1, 'one CA');
    const ca = cas[0] ?? '';
    for (const bundle of caBundles()) assert.equal(bundle.trim(), ca.trim(), 'every webhook trusts that CA');
    const [certA, certB] = await Promise.all([served(19443, ca), served(19444, ca)]);
    assert.equal(certA.fingerprint256, certB.fingerprint256, 'both serve the certificate from the Secret');
    assert.equal(certA.fingerprint256, new X509Certificate(decode(s.data['tls.crt'])).fingerprint256);
    // One of them won the create race; the other said it read the winner's.
    const logs = a.log() + b.log();
    assert.match(logs, /created|another replica/);
    createPodThroughApiServer();
  });

  test('deleting the Secret and restarting recovers with a new CA the API server trusts', async () => {
    const before = decode(secret()?.data['ca.crt']);
    await stopAll();
    kubectl(['-n', SYSTEM_NAMESPACE, 'delete', 'secret', SECRET]);
    running.push(await startSplice());
    const after = decode(secret()?.data['ca.crt']);
    assert.ok(after.length > 0);
    assert.notEqual(after, before, 'a new CA');
    for (const bundle of caBundles()) assert.ok(bundle.includes(splitPem(after)[0]?.trim() ?? '?'));
    createPodThroughApiServer();
  });

  test('a certificate rotated in the Secret is served without a restart', async () => {
    await stopAll();
    const splice = await startSplice({ args: ['--tls-poll-interval', '1'] });
    running.push(splice);
    const s = secret();
    assert.ok(s);
    const ca = { cert: splitPem(decode(s.data['ca.crt']))[0] ?? '', key: decode(s.data['ca.key']) };
    const fresh = await generateServing(ca, SYSTEM_NAMESPACE);
    ok(['-n', SYSTEM_NAMESPACE, 'patch', 'secret', SECRET, '--type=merge', '-p', JSON.stringify({
      data: { 'tls.crt': Buffer.from(fresh.cert).toString('base64'), 'tls.key': Buffer.from(fresh.key).toString('base64') },
    })]);
    const want = new X509Certificate(fresh.cert).fingerprint256;
    await waitFor('the rotated certificate to be served', async () => ((await served(splice.port, ca.cert)).fingerprint256 === want ? true : undefined), 20_000);
    assert.equal(splice.child.exitCode, null, 'the same process');
    createPodThroughApiServer();
  });

  test('a serving certificate near expiry is renewed by splice and served without a restart', async () => {
    const splice = running[0];
    assert.ok(splice);
    const s = secret();
    assert.ok(s);
    const ca = { cert: splitPem(decode(s.data['ca.crt']))[0] ?? '', key: decode(s.data['ca.key']) };
    const DAY = 24 * 3600 * 1000;
    // Issued 355 days ago for a year: 10 days left, well under a third of its life.
    const old = await generateServing(ca, SYSTEM_NAMESPACE, new Date(Date.now() - 355 * DAY), 365 * DAY);
    ok(['-n', SYSTEM_NAMESPACE, 'patch', 'secret', SECRET, '--type=merge', '-p', JSON.stringify({
      data: { 'tls.crt': Buffer.from(old.cert).toString('base64'), 'tls.key': Buffer.from(old.key).toString('base64') },
    })]);
    const oldPrint = new X509Certificate(old.cert).fingerprint256;
    const renewed = await waitFor('splice to renew the certificate in the Secret', () => {
      const now = secret();
      const cert = now ? new X509Certificate(decode(now.data['tls.crt'])) : undefined;
      return cert && cert.fingerprint256 !== oldPrint ? cert : undefined;
    }, 20_000);
    assert.ok(new Date(renewed.validTo).getTime() - Date.now() > 300 * DAY, 'a full new lifetime');
    await waitFor('the renewed certificate to be served', async () => ((await served(splice.port, ca.cert)).fingerprint256 === renewed.fingerprint256 ? true : undefined), 20_000);
    assert.equal(splice.child.exitCode, null, 'the same process');
    createPodThroughApiServer();
  });

  test('a CA within a year of expiry is replaced, and the caBundle trusts old and new during the switch', async () => {
    const splice = running[0];
    assert.ok(splice);
    const DAY = 24 * 3600 * 1000;
    // A ten-year CA issued nine and a half years ago.
    const oldCa = await generateCA(new Date(Date.now() - 3470 * DAY));
    const serving = await generateServing(oldCa, SYSTEM_NAMESPACE);
    const b64 = (t: string) => Buffer.from(t).toString('base64');
    ok(['-n', SYSTEM_NAMESPACE, 'patch', 'secret', SECRET, '--type=merge', '-p', JSON.stringify({
      data: { 'ca.crt': b64(oldCa.cert), 'ca.key': b64(oldCa.key), 'tls.crt': b64(serving.cert), 'tls.key': b64(serving.key) },
    })]);
    const oldPrint = new X509Certificate(oldCa.cert).fingerprint256;
    const cas = await waitFor('a new CA in the Secret, next to the old one', () => {
      const now = splitPem(decode(secret()?.data['ca.crt']));
      return now.length === 2 ? now : undefined;
    }, 20_000);
    const [newCa = '', keptCa = ''] = cas;
    assert.notEqual(new X509Certificate(newCa).fingerprint256, oldPrint, 'the signer is new');
    assert.equal(new X509Certificate(keptCa).fingerprint256, oldPrint, 'the old CA is still trusted');
    await waitFor('both CAs in every caBundle', () => (caBundles().every((b) => splitPem(b).length === 2) ? true : undefined), 20_000);
    await waitFor('a certificate signed by the new CA to be served', async () => {
      const cert = await served(splice.port, newCa);
      return cert.checkIssued(new X509Certificate(newCa)) ? true : undefined;
    }, 20_000);
    createPodThroughApiServer();
  });

  test('an unusable Secret (garbage where the certificate should be) is repaired in place', async () => {
    const splice = running[0];
    assert.ok(splice);
    const garbage = Buffer.from('not a certificate').toString('base64');
    ok(['-n', SYSTEM_NAMESPACE, 'patch', 'secret', SECRET, '--type=merge', '-p', JSON.stringify({ data: { 'tls.crt': garbage } })]);
    await waitFor('splice to write a certificate back', () => {
      const cert = secret()?.data['tls.crt'];
      return cert !== undefined && cert !== garbage ? true : undefined;
    }, 20_000);
    const ca = splitPem(decode(secret()?.data['ca.crt']))[0] ?? '';
    await served(splice.port, ca);
    createPodThroughApiServer();
  });
});

