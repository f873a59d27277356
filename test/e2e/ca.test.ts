// Scenario 16: an operator's own CA. An intermediate put into splice-ca before splice
// starts is used as is: identities are signed by it, carry it after the leaf, and trust
// the operator's root. Replacing it renews every identity; an unusable replacement is
// refused with every problem named, and identities go on being issued with the CA in use.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { generate } from 'selfsigned';
import { splitPem } from '../../src/tls/generate.js';
import { apply, kubectl, ok, waitFor } from './lib/kubectl.js';
import { appears, checkLeaf, decode, metric, secret, type SecretJson } from './lib/identity.js';
import { namespaceManifest } from './lib/objects.js';
import { installManifests, startSplice, SYSTEM_NAMESPACE, type SpliceProcess } from './lib/splice.js';
import { mutualTls } from '../support/tls.js';

const NS = 'e2e-ca';
let splice: SpliceProcess;

interface OperatorCa {
  root: string;
  cert: string;
  key: string;
}

async function operatorCa(name: string, keyType: 'ec' | 'rsa' = 'ec'): Promise<OperatorCa> {
  const ext = [
    { name: 'basicConstraints' as const, cA: true, critical: true },
    { name: 'keyUsage' as const, keyCertSign: true, cRLSign: true, critical: true },
  ];
  const keys = keyType === 'ec' ? { keyType, curve: 'P-256' as const } : { keyType, keySize: 2048 };
  const root = await generate([{ name: 'commonName', value: `${name} root` }], { ...keys, algorithm: 'sha256', extensions: ext });
  const mid = await generate([{ name: 'commonName', value: `${name} intermediate` }], {
    ...keys,
    algorithm: 'sha256',
    ca: { cert: root.cert, key: root.private },
    extensions: ext,
  });
  return { root: root.cert, cert: mid.cert, key: mid.private };
}

function putCa(ca: OperatorCa): void {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const body = {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/tls',
    metadata: { name: 'splice-ca', namespace: SYSTEM_NAMESPACE },
    data: { 'tls.crt': b64(ca.cert), 'tls.key': b64(ca.key), 'ca.crt': b64(ca.root) },
  };
  const r = apply(body);
  assert.equal(r.code, 0, r.stderr);
}

/** The identity of `sa` is signed by `ca`'s intermediate, carries it, and trusts its root. */
function signedBy(s: SecretJson | undefined, ca: OperatorCa): boolean {
  if (!s) return false;
  const chain = splitPem(decode(s.data['tls.crt']));
  if (chain.length !== 2 || decode(s.data['ca.crt']).trim() !== ca.root.trim()) return false;
  const [leaf, mid] = chain.map((p) => new X509Certificate(p)) as [X509Certificate, X509Certificate];
  const intermediate = new X509Certificate(ca.cert);
  const root = new X509Certificate(ca.root);
  return mid.fingerprint256 === intermediate.fingerprint256 && leaf.checkIssued(intermediate) && leaf.verify(intermediate.publicKey) && intermediate.verify(root.publicKey);
}

const pems = (s: SecretJson) => ({ cert: decode(s.data['tls.crt']), key: decode(s.data['tls.key']), ca: decode(s.data['ca.crt']) });

before(async () => {
  installManifests();
  kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=true'], { timeout: 120 });
  kubectl(['-n', SYSTEM_NAMESPACE, 'delete', 'secret', 'splice-ca', '--ignore-not-found']);
});
after(async () => {
  await splice?.stop();
  // Later scenarios start from a CA splice generates.
  kubectl(['-n', SYSTEM_NAMESPACE, 'delete', 'secret', 'splice-ca', '--ignore-not-found']);
  kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=false']);
});

describe('16. an operator\'s intermediate CA', () => {
  let first: OperatorCa;
  let second: OperatorCa;

  test('16a. used as is: identities are signed by the intermediate, carry it, trust the root, and complete mutual TLS', async () => {
    first = await operatorCa('corp');
    putCa(first);
    const before = JSON.parse(ok(['-n', SYSTEM_NAMESPACE, 'get', 'secret', 'splice-ca', '-o', 'json'])) as SecretJson;
    assert.equal(apply(namespaceManifest(NS, { 'splice.dev/inject': 'enabled' })).code, 0);
    assert.equal(apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'peer', namespace: NS } }).code, 0);
    splice = await startSplice({ args: ['--tls-poll-interval', '1'] });
    const a = (await appears(NS, 'splice-identity-default', 30_000)).secret;
    const b = (await appears(NS, 'splice-identity-peer', 10_000)).secret;
    for (const [s, sa] of [[a, 'default'], [b, 'peer']] as const) {
      assert.ok(signedBy(s, first), `splice-identity-${sa} is not signed by the operator's intermediate`);
      assert.throws(() => checkLeaf(s, `spiffe://cluster.local/ns/${NS}/sa/${sa}`), /not issued by ca\.crt/, 'the leaf is one step below the root');
    }
    const seen = await mutualTls(pems(a), pems(b));
    assert.equal(seen.serverSaw, `URI:spiffe://cluster.local/ns/${NS}/sa/peer`);
    const after = JSON.parse(ok(['-n', SYSTEM_NAMESPACE, 'get', 'secret', 'splice-ca', '-o', 'json'])) as SecretJson;
    assert.equal(after.metadata.resourceVersion, before.metadata.resourceVersion, 'splice-ca was not touched');
  });

  test('16b. replacing the CA renews every identity', async () => {
    const renewed = (await metric(splice.metricsPort, 'splice_identity_certificates_renewed_total')) ?? 0;
    second = await operatorCa('corp-2');
    putCa(second);
    await waitFor(
      'both identities to be signed by the new CA',
      () => (['default', 'peer'].every((sa) => signedBy(secret(NS, `splice-identity-${sa}`), second)) ? true : undefined),
      15_000,
    );
    assert.ok(((await metric(splice.metricsPort, 'splice_identity_certificates_renewed_total')) ?? 0) >= renewed + 2);
  });

  test('16c. an unusable CA is refused with every problem named; identities go on with the CA in use', async () => {
    putCa(await operatorCa('corp-rsa', 'rsa'));
    const refusal = (line: string) => line.includes('mesh CA Secret cannot sign; identities go on with the CA read before') && line.includes('tls.key must be an EC P-256 key, it is rsa');
    await waitFor('the refusal in the log', () => (splice.log().split('\n').some(refusal) ? true : undefined), 15_000);
    assert.equal(apply({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'later', namespace: NS } }).code, 0);
    const { secret: s } = await appears(NS, 'splice-identity-later', 10_000);
    assert.ok(signedBy(s, second), 'issued with the CA in use');
    // Counted by the identity controller's own read of the CA, which may come a poll after
    // the refusal in the log (discovery reads the same Secret on its own schedule).
    await waitFor('a CA that cannot sign to count as a failure', async () => (((await metric(splice.metricsPort, 'splice_identity_certificate_failures_total')) ?? 0) > 0 ? true : undefined), 10_000);
  });
});
