// The mesh CA and the workload certificates it signs, checked the way a peer checks
// them: node's X509Certificate and a real TLS handshake against ca.crt alone.

import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { describe, test } from 'node:test';
import { generate } from 'selfsigned';
import { CaError, parseMeshCa, type MeshCa } from '../../../src/identity/ca.js';
import { generateMeshRoot, issueIdentity, type IssuedIdentity } from '../../../src/identity/issue.js';
import { mutualTls } from '../../support/tls.js';

const ID = { trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'web' };
const HOUR = 3_600_000;

async function rootCa(): Promise<MeshCa> {
  const root = await generateMeshRoot('cluster.local');
  return parseMeshCa({ 'tls.crt': root.cert, 'tls.key': root.key, 'ca.crt': root.cert }, 'test root');
}

/** An operator's intermediate under a root of its own (what `splice-ca` may hold instead). */
async function intermediate(): Promise<{ root: string; cert: string; key: string }> {
  // splice's own root signs leaves only (path length 0); an operator's root does not.
  const rootPems = await generate([{ name: 'commonName', value: 'corp root' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 1000 * 24 * HOUR),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  const root = { cert: rootPems.cert, key: rootPems.private };
  const pems = await generate([{ name: 'commonName', value: 'corp intermediate' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    ca: { cert: root.cert, key: root.key },
    notAfterDate: new Date(Date.now() + 100 * 24 * HOUR),
    extensions: [
      { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  return { root: root.cert, cert: pems.cert, key: pems.private };
}

const mtls = (server: IssuedIdentity, client: IssuedIdentity) =>
  mutualTls({ cert: server.cert, key: server.key, ca: server.trustBundle }, { cert: client.cert, key: client.key, ca: client.trustBundle });

describe('the mesh root', () => {
  test('is a CA for the trust domain, and its own trust bundle', async () => {
    const ca = await rootCa();
    const x = new X509Certificate(ca.cert);
    assert.equal(x.ca, true);
    assert.equal(x.subjectAltName, 'URI:spiffe://cluster.local');
    assert.equal(ca.chain, '', 'a root is not sent after leaves');
    assert.equal(ca.trustBundle, ca.cert);
    assert.equal(createPrivateKey(ca.key).asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.match(ca.fingerprint, /^[0-9a-f]{64}$/);
  });
});

describe('a workload certificate', () => {
  test('carries exactly the SPIFFE URI, verifies against ca.crt, and its key matches', async () => {
    const ca = await rootCa();
    const issued = await issueIdentity(ca, ID, 24 * HOUR);
    const leaf = new X509Certificate(issued.cert);
    assert.equal(leaf.subjectAltName, 'URI:spiffe://cluster.local/ns/shop/sa/web');
    assert.equal(leaf.ca, false);
    assert.ok(leaf.verify(new X509Certificate(issued.trustBundle).publicKey));
    assert.ok(leaf.checkPrivateKey(createPrivateKey(issued.key)));
    const life = new Date(leaf.validTo).getTime() - Date.now();
    assert.ok(life > 23.9 * HOUR && life <= 24 * HOUR, `valid for ${life} ms`);
  });

  test('two workloads complete mutual TLS, each seeing the other\'s SPIFFE URI', async () => {
    const ca = await rootCa();
    const web = await issueIdentity(ca, ID, HOUR);
    const db = await issueIdentity(ca, { ...ID, serviceAccount: 'db' }, HOUR);
    const { serverSaw, clientSaw } = await mtls(db, web);
    assert.equal(serverSaw, 'URI:spiffe://cluster.local/ns/shop/sa/web');
    assert.equal(clientSaw, 'URI:spiffe://cluster.local/ns/shop/sa/db');
  });

  test('a certificate of another CA is refused in the handshake', async () => {
    const web = await issueIdentity(await rootCa(), ID, HOUR);
    const stranger = await issueIdentity(await rootCa(), ID, HOUR);
    await assert.rejects(mtls(web, stranger));
  });

  test('never outlives its CA', async () => {
    const { root, cert, key } = await intermediate();
    const ca = parseMeshCa({ 'tls.crt': cert, 'tls.key': key, 'ca.crt': root }, 'test');
    const issued = await issueIdentity(ca, ID, 1000 * 24 * HOUR);
    assert.ok(issued.notAfter.getTime() <= ca.notAfter.getTime());
  });

  test('under an operator\'s intermediate: tls.crt carries the intermediate, and mTLS verifies against the root alone', async () => {
    const { root, cert, key } = await intermediate();
    const ca = parseMeshCa({ 'tls.crt': cert, 'tls.key': key, 'ca.crt': root }, 'test');
    assert.equal(ca.trustBundle.trim(), root.trim());
    const a = await issueIdentity(ca, ID, HOUR);
    const b = await issueIdentity(ca, { ...ID, serviceAccount: 'b' }, HOUR);
    assert.equal((a.cert.match(/BEGIN CERTIFICATE/g) ?? []).length, 2, 'leaf and intermediate');
    const { serverSaw } = await mtls(a, b);
    assert.equal(serverSaw, 'URI:spiffe://cluster.local/ns/shop/sa/b');
  });
});

describe('CA material that cannot sign is refused, naming the key', () => {
  const problems = (fn: () => unknown): string => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof CaError, String(err));
      return err.message;
    }
    assert.fail('accepted');
  };

  test('missing keys', () => {
    assert.match(problems(() => parseMeshCa({}, 'Secret splice-system/splice-ca')), /^Secret splice-system\/splice-ca: tls\.crt holds no PEM certificate; ca\.crt .*; tls\.key is empty$/);
  });

  test('an RSA key', async () => {
    const pems = await generate([{ name: 'commonName', value: 'rsa ca' }], {
      keyType: 'rsa',
      keySize: 2048,
      algorithm: 'sha256',
      extensions: [{ name: 'basicConstraints', cA: true, critical: true }],
    });
    assert.match(problems(() => parseMeshCa({ 'tls.crt': pems.cert, 'tls.key': pems.private, 'ca.crt': pems.cert }, 's')), /tls\.key must be an EC P-256 key, it is rsa/);
  });

  test('a key of another certificate', async () => {
    const a = await generateMeshRoot('cluster.local');
    const b = await generateMeshRoot('cluster.local');
    assert.match(problems(() => parseMeshCa({ 'tls.crt': a.cert, 'tls.key': b.key, 'ca.crt': a.cert }, 's')), /tls\.key does not belong to the first certificate in tls\.crt/);
  });

  test('a certificate that is not a CA', async () => {
    const ca = await rootCa();
    const leaf = await issueIdentity(ca, ID, HOUR);
    assert.match(problems(() => parseMeshCa({ 'tls.crt': leaf.cert, 'tls.key': leaf.key, 'ca.crt': ca.cert }, 's')), /is not a CA/);
  });

  test('a chain that no root in ca.crt anchors', async () => {
    const { cert, key } = await intermediate();
    const other = await generateMeshRoot('cluster.local');
    assert.match(problems(() => parseMeshCa({ 'tls.crt': cert, 'tls.key': key, 'ca.crt': other.cert }, 's')), /no root in ca\.crt issued the last certificate in tls\.crt/);
  });
});
